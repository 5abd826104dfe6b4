-- Every snapshot the publisher workflow stored: its version (the flag set's), content ETag, size,
-- signature and where it lies. The newest row is what /health reports the age of.
CREATE TABLE IF NOT EXISTS snapshots (
  version      bigint PRIMARY KEY,
  etag         text NOT NULL,
  bytes        integer NOT NULL,
  signature    text NOT NULL,
  location     text NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now()
);
