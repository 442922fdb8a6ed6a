import { recordFailure } from '@patternflow/errors';
import type { DeadLetter, OutboundMessage, StageHandler } from '@patternflow/kafka';
import { nextTraceparent, TRACEPARENT } from '@patternflow/observability';
import type { NormalizedPattern } from '@patternflow/records';
import type { SchemaEncoder } from '@patternflow/registry';
import type { IngestDecoder } from './ingest.ts';

/** The expedited lane of a stage's output: where a record goes when the policy's `expedite:` holds for it. */
export interface ExpeditedOutput<R> {
  readonly topic: string;
  readonly applies: (record: R) => boolean;
}

/**
 * Ingest records → canonical records on the normalized topic (its priority sibling when the
 * routing policy's `expedite:` holds for what is known at ingest), keyed by record id so that
 * every later stage sees one id's records in order. Bad input is dead-lettered one
 * record at a time, and so is a record that makes the decoder throw something unexpected
 * (RECORD_UNEXPECTED); a dependency's failure (registry down) fails the whole chunk, which
 * the runner retries.
 */
export function createIngestHandler(deps: {
  decode: IngestDecoder;
  encoder: SchemaEncoder;
  normalizedTopic: string;
  /** Absent: every record goes to normalizedTopic. */
  expedited?: ExpeditedOutput<NormalizedPattern>;
}): StageHandler {
  const { decode, encoder, normalizedTopic, expedited } = deps;
  return async (records) => {
    const messages: OutboundMessage[] = [];
    const deadLetters: DeadLetter[] = [];
    for (const record of records) {
      try {
        const normalized = await decode({
          topic: record.topic,
          value: record.value,
          timestamp: record.timestamp,
        });
        messages.push({
          // Same key, same encoding on either topic: only the order the tagger reads them in differs.
          topic: expedited?.applies(normalized) ? expedited.topic : normalizedTopic,
          key: normalized.id,
          value: encoder.encode(normalized),
          headers: {
            [TRACEPARENT]: nextTraceparent(record.headers[TRACEPARENT]),
            'pf-source': normalized.source,
          },
        });
      } catch (error) {
        const failure = recordFailure(error);
        if (failure === undefined) throw error;
        deadLetters.push({ record, error: failure });
      }
    }
    return { messages, deadLetters };
  };
}
