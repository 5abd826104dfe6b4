-- Rollout plans run by Temporal workflows (src/workflows/rollout-workflow.ts). The workflow is the
-- source of truth for the control state (running, paused, next step); these tables are its durable
-- record, written by the API (the plan, at submission) and by the workflow's activities (every step
-- and transition), each write in the same transaction as its audit entry and outbox event.

CREATE TABLE IF NOT EXISTS rollouts (
  id                 text PRIMARY KEY,
  flag_key           text NOT NULL REFERENCES flags (key),
  workflow_id        text NOT NULL,
  run_id             text,
  state              text NOT NULL CHECK (state IN ('scheduled', 'running', 'paused', 'completed', 'cancelled', 'rolled_back', 'failed')),
  -- The normalised plan: steps with absolute target times (epoch ms), the gate, the resume policy.
  plan               jsonb NOT NULL,
  -- The flag's rollout when the plan was accepted (null: none); a rollback restores it.
  start_rollout      jsonb,
  -- What the plan last left the flag's rollout at: each step is a compare-and-set against it.
  expected_rollout   jsonb,
  -- Index of the last applied step, -1 before the first.
  current_step       integer NOT NULL DEFAULT -1,
  -- Added to every target time not yet reached (the shift_schedule resume policy moves it).
  schedule_offset_ms bigint NOT NULL DEFAULT 0,
  next_step_at       timestamptz,
  pause_cause        text,
  pause_reason       text,
  paused_by          text,
  paused_at          timestamptz,
  rolled_back        boolean NOT NULL DEFAULT false,
  end_reason         text,
  started_by         text NOT NULL,
  reason             text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  finished_at        timestamptz
);
-- One plan owns a flag at a time; the API's insert relies on this for rollout_conflict.
CREATE UNIQUE INDEX IF NOT EXISTS rollouts_one_active_per_flag ON rollouts (flag_key)
  WHERE state IN ('scheduled', 'running', 'paused');
CREATE INDEX IF NOT EXISTS rollouts_flag_idx ON rollouts (flag_key, created_at DESC);
CREATE INDEX IF NOT EXISTS rollouts_active_idx ON rollouts (state) WHERE state IN ('scheduled', 'running', 'paused');

-- Everything that happened to a rollout, in order. `seq` is assigned by the workflow
-- (deterministically, so a retried activity carries the same one): (rollout_id, seq) is the
-- idempotency key of every activity write. The partial unique index makes "a step is applied at
-- most once" a database invariant, not just the activity's check.
CREATE TABLE IF NOT EXISTS rollout_history (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rollout_id   text NOT NULL REFERENCES rollouts (id),
  seq          integer NOT NULL,
  kind         text NOT NULL CHECK (kind IN ('scheduled', 'started', 'step_applied', 'paused', 'resumed', 'completed', 'cancelled', 'rolled_back', 'failed')),
  at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor        text NOT NULL,
  step_index   integer,
  -- For step_applied: the (effective) target time the step was due at, to measure drift.
  target_at    timestamptz,
  flag_version integer,
  rollout      jsonb,
  cause        text,
  reason       text,
  details      jsonb,
  UNIQUE (rollout_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS rollout_history_step_once ON rollout_history (rollout_id, step_index) WHERE kind = 'step_applied';

-- Settings of the rollout machinery; one row. auto_progress_enabled is the runbook's circuit
-- breaker: while false, no step of any plan is applied (rollouts that reach a step hold, paused
-- with cause auto_progress, and continue when it is enabled again).
CREATE TABLE IF NOT EXISTS rollout_settings (
  id                    boolean PRIMARY KEY DEFAULT true CHECK (id),
  auto_progress_enabled boolean NOT NULL DEFAULT true,
  reason                text,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  updated_by            text NOT NULL DEFAULT 'system'
);
INSERT INTO rollout_settings (id) VALUES (true) ON CONFLICT (id) DO NOTHING;
