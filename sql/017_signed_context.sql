-- A front-end's token (feature_flag:browser) may require every context it evaluates to carry an HMAC
-- of its targetingKey made with this secret by the customer's backend, so one browser cannot
-- evaluate as another user. NULL: the token requires no signature. The secret is needed in clear to
-- verify an HMAC, as a webhook's is; it never leaves the database but for the API processes' memory
-- (the published token list carries only whether a token requires it).
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS context_signing_secret text;
