-- Every flag write asks which active high-impact flags its change reaches (src/data/high-impact-reach.ts):
-- the recursive walk up the prerequisite chain uses flags_prerequisites_idx (sql/015), but the final
-- filter scanned every flag for the few high-impact ones, 0.3 ms a write at 1,000 flags and ten
-- times that at 10,000. Those few are a small partial index.
CREATE INDEX IF NOT EXISTS flags_high_impact_active_idx ON flags (key) WHERE high_impact AND state = 'active';
