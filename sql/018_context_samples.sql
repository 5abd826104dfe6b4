-- Sampled contexts for impact previews (docs/impact-preview.md).
--
-- Each API process keeps reservoirs of the contexts it evaluates (one overall, scope '', and one per
-- flag, scope = the flag key) and writes the slots it filled since the last time here. A row keeps
-- only the attributes the flag set reads plus the identity attributes, and the name of the token
-- that asked. Rows are replaced slot by slot, deleted after FLAGS_SAMPLE_RETENTION_DAYS, and cut to
-- FLAGS_SAMPLE_MAX_ROWS (oldest first); DELETE FROM context_samples purges them all at once.

CREATE TABLE IF NOT EXISTS context_samples (
  -- A random id per API process start: a restarted process fills new slots, the old ones age out.
  process    text NOT NULL,
  scope      text NOT NULL,
  slot       integer NOT NULL,
  context    jsonb NOT NULL,
  token      text NOT NULL,
  sampled_at timestamptz NOT NULL,
  PRIMARY KEY (process, scope, slot)
);
CREATE INDEX IF NOT EXISTS context_samples_scope_idx ON context_samples (scope);
CREATE INDEX IF NOT EXISTS context_samples_age_idx ON context_samples (sampled_at);

-- A change request's impact over the sample when it was filed ({ computedAt, summary, report }), so
-- the approver sees what it would have done then beside what it would do now (recomputed on demand).
ALTER TABLE change_requests ADD COLUMN IF NOT EXISTS impact jsonb;
