import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { DeadLetter, StageHandler } from '@patternflow/kafka';
import type { RoutedPattern } from '@patternflow/records';
import type { SchemaDecoder } from '@patternflow/registry';
import type { Decoded } from '@patternflow/service';
import { decodeRecords } from '@patternflow/service';
import type { Counter, Histogram } from 'prom-client';
import type { SinkStore, SinkWriteResult } from './cold-storage.ts';

/**
 * Routed records → PostgreSQL (and the cold files of the cold lanes), one durable batch
 * per chunk. The runner resolves the chunk's offsets only after writeBatch returns, i.e.
 * after COMMIT: a crash before that replays the chunk, and the upsert on id absorbs it.
 */
export function createSinkHandler(deps: {
  decoder: SchemaDecoder;
  store: Pick<SinkStore, 'writeBatch'>;
  rows: Counter<'lane' | 'result'>;
  latency: Histogram<'lane'>;
  now?: () => number;
}): StageHandler {
  const now = deps.now ?? Date.now;
  return async (records) => {
    const { decoded, deadLetters } = await decodeRecords<RoutedPattern>(records, deps.decoder);
    if (decoded.length === 0) return { messages: [], deadLetters };
    const { stored, rejected } = await writeIsolatingRejects(deps.store, decoded);
    deadLetters.push(...rejected);
    const values = stored.values;
    const written = now();
    const inserted = new Set(stored.insertedIds);
    for (const record of values) {
      const isNew = inserted.delete(record.id);
      deps.rows.inc({ lane: record.route.lane, result: isNew ? 'inserted' : 'duplicate' });
      // Ingest → durable write, for the records this batch really stored.
      if (isNew) deps.latency.observe({ lane: record.route.lane }, (written - record.ingest_time) / 1000);
    }
    return { messages: [], deadLetters };
  };
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity violation): the row itself is bad. */
const ROW_DATA_ERROR = /^2[23][0-9A-Z]{3}$/;

function isRowDataError(error: unknown): error is PipelineError {
  return (
    error instanceof PipelineError &&
    error.code === ErrorCodes.SINK_WRITE &&
    !error.retriable &&
    ROW_DATA_ERROR.test(String(error.details.code ?? ''))
  );
}

/**
 * Writes the batch in one transaction. When PostgreSQL refuses it for a row's content
 * (e.g. a \u0000 escape that jsonb cannot store), the batch is written again one record
 * at a time so that only the offending records are dead-lettered, never the whole batch
 * and never a crash loop. Outages and other failures propagate (retried or fatal).
 */
async function writeIsolatingRejects(
  store: Pick<SinkStore, 'writeBatch'>,
  decoded: readonly Decoded<RoutedPattern>[],
): Promise<{ stored: { values: RoutedPattern[]; insertedIds: string[] }; rejected: DeadLetter[] }> {
  const values = decoded.map((item) => item.value);
  try {
    const result: SinkWriteResult = await store.writeBatch(values);
    return { stored: { values, insertedIds: result.insertedIds }, rejected: [] };
  } catch (error) {
    if (!isRowDataError(error) || decoded.length === 1) {
      if (isRowDataError(error))
        return { stored: { values: [], insertedIds: [] }, rejected: [reject(decoded[0]!, error)] };
      throw error;
    }
  }
  const stored = { values: [] as RoutedPattern[], insertedIds: [] as string[] };
  const rejected: DeadLetter[] = [];
  for (const item of decoded) {
    try {
      const result = await store.writeBatch([item.value]);
      stored.values.push(item.value);
      stored.insertedIds.push(...result.insertedIds);
    } catch (error) {
      if (!isRowDataError(error)) throw error;
      rejected.push(reject(item, error));
    }
  }
  return { stored, rejected };
}

function reject(item: Decoded<RoutedPattern>, error: PipelineError): DeadLetter {
  return {
    record: item.record,
    error: new PipelineError(
      ErrorCodes.SINK_REJECTED,
      `PostgreSQL refused record ${item.value.id}: ${error.message}`,
      {
        cause: error,
        details: { id: item.value.id, sqlstate: error.details.code },
      },
    ),
  };
}
