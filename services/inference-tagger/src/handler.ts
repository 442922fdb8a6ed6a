import { ErrorCodes, PipelineError, recordFailure } from '@patternflow/errors';
import type { Batcher, DeadLetter, InboundRecord, OutboundMessage, StageHandler } from '@patternflow/kafka';
import type { Prediction } from '@patternflow/models';
import { nextTraceparent, TRACEPARENT } from '@patternflow/observability';
import type { Inference, NormalizedPattern, TaggedPattern } from '@patternflow/records';
import type { SchemaDecoder, SchemaEncoder, SchemaExtender } from '@patternflow/registry';
import { decodeRecords } from '@patternflow/service';
import type { TaggingOutcome } from './deployments.ts';

export interface FeatureRow {
  modelKey: string;
  values: Float32Array;
  /** The record's id: a canary picks its records by a stable hash of it. */
  id: string;
}

/** The normalized schema without the payload: features never read it, and it is the largest field. */
export function featureViewSchema(normalizedSchema: Record<string, unknown>): Record<string, unknown> {
  const fields = normalizedSchema.fields as { name: string }[];
  return { ...normalizedSchema, fields: fields.filter((field) => field.name !== 'payload') };
}

/**
 * Normalized records → tagged records, on the tagged topic or, when the routing policy's
 * `expedite:` holds for the record with its label and score, its priority sibling. Features are computed and checked per record, so
 * one record with bad features or without a model is dead-lettered alone; the rest of
 * the chunk goes to the model in one micro-batch. Whatever throws while one record is
 * handled (feature extraction, framing the output) dead-letters that record alone.
 */
export function createTagHandler(deps: {
  /** Reads what features need (featureViewSchema: everything but the payload). */
  decoder: SchemaDecoder;
  /** Reads the whole normalized record, for the re-encoding fallback. */
  fullDecoder: SchemaDecoder;
  /** Appends `inference` to a normalized record's bytes (the common case)… */
  extender: SchemaExtender;
  /** …or encodes the whole tagged record when the input used another schema version. */
  encoder: SchemaEncoder;
  taggedTopic: string;
  /** Where a record goes when `applies` (the policy's `expedite:`) holds for it; absent: never. */
  expedited?: {
    readonly topic: string;
    readonly applies: (record: NormalizedPattern, inference: Inference) => boolean;
  };
  extractFeatures: (record: NormalizedPattern) => Omit<FeatureRow, 'id'>;
  hasModel: (modelKey: string) => boolean;
  inference: Batcher<FeatureRow, TaggingOutcome>;
  /** Input topics of the expedited lane: their rows go into the next model run ahead of the others. */
  urgentTopics?: ReadonlySet<string>;
  /** Sees every labelled record with the prediction that labelled it (the drift monitor, drift.ts). */
  observe?: (source: string, prediction: Prediction, row: FeatureRow) => void;
  now?: () => number;
}): StageHandler {
  const now = deps.now ?? Date.now;
  return async (records) => {
    const { decoded, deadLetters } = await decodeRecords<NormalizedPattern>(records, deps.decoder);
    const ready: { record: InboundRecord; value: NormalizedPattern }[] = [];
    const rows: FeatureRow[] = [];
    for (const item of decoded) {
      try {
        const row = deps.extractFeatures(item.value);
        if (!deps.hasModel(row.modelKey)) {
          throw new PipelineError(
            ErrorCodes.MODEL_MISSING,
            `no model is loaded for '${row.modelKey}' (source ${item.value.source})`,
            { details: { modelKey: row.modelKey, source: item.value.source } },
          );
        }
        ready.push(item);
        rows.push({ modelKey: row.modelKey, values: row.values, id: item.value.id });
      } catch (error) {
        const failure = recordFailure(error);
        if (failure === undefined) throw error;
        deadLetters.push({ record: item.record, error: failure } satisfies DeadLetter);
      }
    }
    const outcomes = await deps.inference.submit(rows, deps.urgentTopics?.has(records[0]!.topic) ?? false);
    const inferredAt = now();
    const messages: OutboundMessage[] = [];
    for (let i = 0; i < ready.length; i++) {
      const { record, value } = ready[i]!;
      const outcome = outcomes[i]!;
      if (!outcome.ok) {
        deadLetters.push({ record, error: outcome.error });
        continue;
      }
      const { prediction, shadow } = outcome;
      deps.observe?.(value.source, prediction, rows[i]!);
      const inference: Inference = {
        label: prediction.label,
        score: prediction.score,
        scores: prediction.scores,
        model_name: prediction.modelName,
        model_version: prediction.modelVersion,
        model_sha256: prediction.modelSha256,
        inferred_at: inferredAt,
        // The shadow candidate's label beside the serving one; it never routes.
        shadow: shadow
          ? {
              label: shadow.label,
              score: shadow.score,
              model_name: shadow.modelName,
              model_version: shadow.modelVersion,
              model_sha256: shadow.modelSha256,
            }
          : null,
      };
      let framed: Buffer;
      try {
        framed =
          deps.extender.extend(record.value!, { inference }) ??
          // Another schema version: decode the whole record (readable for the features
          // does not mean readable as a whole: then this record alone is bad).
          deps.encoder.encode({
            ...((await deps.fullDecoder.decode(record.value!)).value as NormalizedPattern),
            inference,
          } satisfies TaggedPattern);
      } catch (error) {
        const failure = recordFailure(error);
        if (failure === undefined) throw error;
        deadLetters.push({ record, error: failure });
        continue;
      }
      messages.push({
        // Same key, same encoding on either topic: only the order the router reads them in differs.
        topic: deps.expedited?.applies(value, inference) ? deps.expedited.topic : deps.taggedTopic,
        key: value.id,
        value: framed,
        headers: {
          [TRACEPARENT]: nextTraceparent(record.headers[TRACEPARENT]),
          'pf-label': prediction.label,
        },
      });
    }
    return { messages, deadLetters };
  };
}
