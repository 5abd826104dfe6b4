-- Two-person approval: a change to a highImpact flag (patch, archive, restore, a rollout plan) is
-- filed as a change request and waits for a second person in an approval workflow
-- (src/workflows/change-request-workflow.ts, workflow id `change:<id>`). The workflow decides; this
-- table is its durable record, written by the API (the request, at filing) and by the workflow's
-- activities (the decision and the outcome), each write with its audit entry and outbox event.

CREATE TABLE IF NOT EXISTS change_requests (
  id               text PRIMARY KEY,
  -- Insertion order: lists and their cursors page by it.
  seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  flag_key         text NOT NULL REFERENCES flags (key),
  kind             text NOT NULL CHECK (kind IN ('patch', 'archive', 'restore', 'rollout')),
  -- The proposed change: { "patch": {…} }, {} for archive and restore, { "plan": {…} } for a rollout.
  -- Requests are immutable: a different change is a new request.
  change           jsonb NOT NULL,
  -- sha256 over the canonical JSON of (kind, flag key, base version, change): what an approval binds to.
  content_hash     text NOT NULL,
  -- The flag version the change was proposed against; it is applied only onto that version.
  base_version     integer NOT NULL,
  -- What the change does to the flag at base_version, leaf by leaf, for the reviewer (null for a plan).
  diff             jsonb,
  status           text NOT NULL CHECK (status IN ('pending', 'approved', 'applied', 'rejected', 'expired', 'cancelled', 'failed')),
  requested_by     text NOT NULL,
  reason           text,
  expires_at       timestamptz NOT NULL,
  workflow_id      text NOT NULL,
  run_id           text,
  -- Who approved, rejected or cancelled it (null while pending, and for expiry).
  decided_by       text,
  decided_at       timestamptz,
  decision_comment text,
  -- Applied: { "flagVersion": n } or { "rolloutId": "ro_…" }. Failed: in failure, { code, message, details }.
  result           jsonb,
  failure          jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz
);
CREATE INDEX IF NOT EXISTS change_requests_status_idx ON change_requests (status, seq);
CREATE INDEX IF NOT EXISTS change_requests_flag_idx ON change_requests (flag_key, seq);
