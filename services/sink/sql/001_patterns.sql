-- The sink's hot store: one row per record id. Applied by createPostgresWriter().migrate(),
-- which replaces {{table}} with the configured table name (default: patterns). By hand:
--   sed 's/{{table}}/patterns/g' services/sink/sql/001_patterns.sql | psql "$PF_PG_URL"
-- Idempotent: safe to run again.
CREATE TABLE IF NOT EXISTS {{table}} (
  id                text PRIMARY KEY,       -- the sink is idempotent on it: ON CONFLICT (id) DO NOTHING
  source            text NOT NULL,
  kind              text NOT NULL,
  tenant            text NOT NULL,
  tier              text NOT NULL,
  region            text NOT NULL,
  event_time        timestamptz NOT NULL,
  ingest_time       timestamptz NOT NULL,
  label             text NOT NULL,
  score             double precision NOT NULL,
  scores            jsonb NOT NULL,
  model_name        text NOT NULL,
  model_version     text NOT NULL,
  inferred_at       timestamptz NOT NULL,
  lane              text NOT NULL,
  rule              text NOT NULL,
  policy_version    text NOT NULL,
  routed_at         timestamptz NOT NULL,
  attributes        jsonb NOT NULL,
  payload           jsonb NOT NULL,
  payload_format    text NOT NULL,
  payload_schema_id integer,
  written_at        timestamptz NOT NULL DEFAULT now()
);

-- "latest records of a lane", the downstream teams' main query
CREATE INDEX IF NOT EXISTS {{table}}_lane_event_time_idx ON {{table}} (lane, event_time DESC);
CREATE INDEX IF NOT EXISTS {{table}}_label_idx ON {{table}} (label);
CREATE INDEX IF NOT EXISTS {{table}}_tenant_event_time_idx ON {{table}} (tenant, event_time DESC);
