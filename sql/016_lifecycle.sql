-- The flag lifecycle (docs/lifecycle.md).
--
-- Scheduled changes: a merge patch applied to a flag at a time of the requester's choosing by a
-- durable workflow (`scheduled-change:<id>`, src/workflows/scheduled-change-workflow.ts). This table
-- is the truth the workflow consults when its timer fires: a cancel or a reschedule commits here
-- first (with its audit entry and event), and the workflow is only told to wake up.

CREATE TABLE IF NOT EXISTS scheduled_changes (
  id                text PRIMARY KEY,
  -- Insertion order: lists page by it.
  seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  flag_key          text NOT NULL REFERENCES flags (key),
  patch             jsonb NOT NULL,
  -- The flag version the change was scheduled against.
  base_version      integer NOT NULL,
  -- For each field the patch sets, the value it expects to find when it fires: the flag's value at
  -- base_version, or what the earlier changes of the same request leave. A field that holds anything
  -- else by then is a conflict; other fields may have moved (the change is re-based onto them).
  expected          jsonb NOT NULL,
  run_at            timestamptz NOT NULL,
  status            text NOT NULL CHECK (status IN ('pending_approval', 'scheduled', 'applied', 'failed', 'cancelled')),
  created_by        text NOT NULL,
  reason            text,
  -- A high-impact flag's change waits for this change request's approval (kind `schedule`).
  change_request_id text,
  approved_by       text,
  workflow_id       text NOT NULL,
  -- Applied: { "flagVersion": n, "rebasedFrom"?: n }. Failed: { code, message, details }.
  result            jsonb,
  failure           jsonb,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz
);
CREATE INDEX IF NOT EXISTS scheduled_changes_flag_idx ON scheduled_changes (flag_key, seq);
CREATE INDEX IF NOT EXISTS scheduled_changes_open_idx ON scheduled_changes (run_at) WHERE status IN ('pending_approval', 'scheduled');

-- A change request may now approve a flag's scheduled changes (kind `schedule`).
ALTER TABLE change_requests DROP CONSTRAINT IF EXISTS change_requests_kind_check;
ALTER TABLE change_requests ADD CONSTRAINT change_requests_kind_check CHECK (kind IN ('patch', 'archive', 'restore', 'rollout', 'segment-patch', 'schedule'));

-- Retention: an archived flag is purged once it has been archived longer than
-- FLAGS_ARCHIVE_RETENTION_DAYS. Flags archived before this column existed count from their last
-- change, which for an archived flag is its archiving (an archived flag cannot be edited).
ALTER TABLE flags ADD COLUMN IF NOT EXISTS archived_at timestamptz;
UPDATE flags SET archived_at = updated_at WHERE state = 'archived' AND archived_at IS NULL;
CREATE INDEX IF NOT EXISTS flags_archived_at_idx ON flags (archived_at) WHERE state = 'archived';

-- Insights: each API process counts evaluations per flag in memory and adds its counts here every
-- few seconds (src/api/flag-insights.ts). One row per flag, hour, reason, rule, variant and served
-- value (its JSON, cut to 200 characters; '' past the per-flag cap of distinct values). No foreign
-- key: counts arrive after a flag is archived, and a purge removes them with the flag.
CREATE TABLE IF NOT EXISTS flag_evaluation_counts (
  flag_key text NOT NULL,
  hour     timestamptz NOT NULL,
  reason   text NOT NULL,
  rule_id  text NOT NULL DEFAULT '',
  variant  text NOT NULL DEFAULT '',
  value    text NOT NULL DEFAULT '',
  count    bigint NOT NULL,
  PRIMARY KEY (flag_key, hour, reason, rule_id, variant, value)
);
CREATE INDEX IF NOT EXISTS flag_evaluation_counts_hour_idx ON flag_evaluation_counts (hour);

CREATE TABLE IF NOT EXISTS flag_usage (
  flag_key          text PRIMARY KEY,
  last_evaluated_at timestamptz NOT NULL
);
