-- When each periodic maintenance last completed, whichever worker ran it: the daily retention run's
-- clean-up records itself here, and the workers' status metrics report how long ago that was. The
-- clean-up is what bounds the outbox's analytics events, the snapshot records and the evaluation
-- counts; when it stops running, they grow again, and an alert says so.
CREATE TABLE IF NOT EXISTS maintenance_runs (
  name        text PRIMARY KEY,
  finished_at timestamptz NOT NULL,
  result      jsonb NOT NULL
);
