-- Ground truth from downstream teams (patterns.feedback), and its join with the predictions.
-- Applied by migrate() like 001 ({{table}} is the patterns table; the names below are fixed).
-- One row per record id: a later feedback for the same id replaces the earlier one (a
-- corrected truth). Feedback may arrive before its prediction is stored; the view joins at
-- query time, so such a row counts as soon as both exist.
CREATE TABLE IF NOT EXISTS pattern_feedback (
  id          text PRIMARY KEY,             -- the record id the prediction was made for
  label       text NOT NULL,                -- the true label
  source      text,                         -- optional: the source the sender names
  feedback_at timestamptz,                  -- optional: when the sender learnt the truth (`at`)
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pattern_feedback_received_at_idx ON pattern_feedback (received_at DESC);

CREATE OR REPLACE VIEW pattern_feedback_joined AS
SELECT f.id,
       f.label           AS true_label,
       p.label           AS predicted_label,
       p.score,
       p.model_name,
       p.model_version,
       p.model_sha256,
       p.source,
       p.tenant,
       p.inferred_at,
       f.feedback_at,
       f.received_at
  FROM pattern_feedback f
  JOIN {{table}} p ON p.id = f.id;
