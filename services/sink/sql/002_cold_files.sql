-- Cold files that belong to committed batches. A cold file is renamed into place inside the
-- transaction that inserts its rows and its row here; a file on disk without a row here
-- belongs to a transaction that never committed, and reconcile() deletes it.
-- Applied by migrate() like 001 ({{table}} is the patterns table; this table's name is fixed).
CREATE TABLE IF NOT EXISTS cold_files (
  path        text PRIMARY KEY,             -- relative to the cold directory: lane=<lane>/date=<day>/part-….ndjson.gz
  instance_id text NOT NULL,                -- the sink instance that wrote it (file names carry it too)
  lane        text NOT NULL,
  day         date NOT NULL,
  records     integer NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
