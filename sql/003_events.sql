-- Webhook delivery state beyond 001's columns. A dispatcher claims a webhook by writing a lease
-- (a random token and an expiry) in one short statement, delivers without holding a transaction,
-- and every later update is fenced by the token: a dispatcher that lost its lease (it stalled, or
-- another took over after expiry) cannot move the cursor. A crashed dispatcher's lease simply
-- expires and the next one redelivers from the cursor: at least once, never lost.
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS lease_token text;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS lease_until timestamptz;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS last_error_at timestamptz;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS last_delivered_at timestamptz;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS delivered_count bigint NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS failed_count bigint NOT NULL DEFAULT 0;

CREATE INDEX IF NOT EXISTS webhooks_due_idx ON webhooks (next_attempt_at) WHERE active;
