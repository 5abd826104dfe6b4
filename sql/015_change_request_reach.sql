-- Two-person approval reaches every path to what a high-impact flag serves: a change to a segment its
-- rules use, or to a flag it depends on as a prerequisite (directly or further up the chain), becomes
-- one change request that lists every high-impact flag it touches; who may approve can be narrowed
-- per flag (its `approvers`), and the request records the lists that applied when it was filed.

-- A segment patch: `flag_key` is the first high-impact flag it touches (so the flag's requests and
-- the FlagKey search attribute find it), `segment_key` the segment, `base_version` the segment's.
ALTER TABLE change_requests DROP CONSTRAINT IF EXISTS change_requests_kind_check;
ALTER TABLE change_requests ADD CONSTRAINT change_requests_kind_check CHECK (kind IN ('patch', 'archive', 'restore', 'rollout', 'segment-patch'));
ALTER TABLE change_requests ADD COLUMN IF NOT EXISTS segment_key text;
-- Every high-impact flag whose answers the change may alter, when it was filed.
ALTER TABLE change_requests ADD COLUMN IF NOT EXISTS affected_flags text[] NOT NULL DEFAULT '{}';
-- `GET /v1/changes?flagKey=` finds the requests filed under a flag and those that touch it.
CREATE INDEX IF NOT EXISTS change_requests_affected_flags_idx ON change_requests USING gin (affected_flags);
-- [{ "flagKey": …, "anyOf": [identity or "group:<name>", …] }] for each touched flag that narrows its approvers.
ALTER TABLE change_requests ADD COLUMN IF NOT EXISTS approvers jsonb NOT NULL DEFAULT '[]';

-- Every write to a flag asks which high-impact flags depend on it, at any depth
-- (src/data/high-impact-reach.ts): each step up the prerequisite chain is a containment lookup
-- (`definition->'prerequisites' @> [{"flagKey": …}]`) that this index answers without a scan.
CREATE INDEX IF NOT EXISTS flags_prerequisites_idx ON flags USING gin ((definition->'prerequisites') jsonb_path_ops);
