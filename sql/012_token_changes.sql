-- API processes keep every live token in memory and follow token changes through the outbox, as they
-- follow flag changes: this partial index answers "max id of the token events" and "those after id
-- N" without scanning the outbox.
CREATE INDEX IF NOT EXISTS outbox_token_changes_idx ON outbox (id) WHERE type LIKE 'token.%';
