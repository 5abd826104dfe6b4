-- Search over key, description and tags by substring: a trigram index serves ILIKE '%term%', which
-- finds "checkout" inside "new-checkout-flow" where full-text search's word tokens would not
-- (docs/api.md gives the measurement behind the choice). pg_trgm is a trusted extension, so a
-- database owner without superuser rights may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE flags ADD COLUMN IF NOT EXISTS search_text text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS flags_search_trgm_idx ON flags USING gin (search_text gin_trgm_ops);
