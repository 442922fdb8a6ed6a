-- The sha256 of the model.onnx that labelled each record (inference.model_sha256, from the
-- version's signed manifest), beside model_name and model_version. Rows written before the
-- column existed get '' (as Avro readers get for records written before the field existed).
-- Applied by migrate() like 001 ({{table}} is the patterns table). Idempotent.
ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS model_sha256 text NOT NULL DEFAULT '';
