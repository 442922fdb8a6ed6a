import { dispositionOf, PipelineError } from '@patternflow/errors';
import { createBatcher, type DeadLetter, type StageHandler } from '@patternflow/kafka';
import type { RoutedPattern } from '@patternflow/records';
import type { SchemaDecoder } from '@patternflow/registry';
import type { Decoded } from '@patternflow/service';
import { decodeRecords } from '@patternflow/service';
import type { Counter, Histogram } from 'prom-client';
import type { SinkStore } from './cold-storage.ts';

/**
 * Routed records → PostgreSQL (and the cold files of the cold lanes). The chunks of the
 * partitions processed at once share one transaction (group commit: one COMMIT and one set
 * of fsyncs for all of them, and a lone chunk is written at once). The runner resolves a
 * chunk's offsets only after that transaction's COMMIT: a crash before that replays the
 * chunk, and the upsert on id absorbs it.
 */
export function createSinkHandler(deps: {
  decoder: SchemaDecoder;
  store: Pick<SinkStore, 'writeBatch'>;
  rows: Counter<'lane' | 'result'>;
  latency: Histogram<'lane'>;
  /** Topics of the expedited lane: their chunks share transactions of their own, beside the others'. */
  expeditedTopics?: ReadonlySet<string>;
  now?: () => number;
}): StageHandler {
  const now = deps.now ?? Date.now;
  const sharedTransactions = () =>
    createBatcher<RoutedPattern, boolean>({
      maxSize: MAX_ROWS_PER_TRANSACTION,
      // Under a backlog, full transactions run side by side (each with its own connection).
      maxInFlight: 3,
      run: async (values) => {
        const { insertedIds } = await deps.store.writeBatch(values);
        const inserted = new Set(insertedIds);
        return values.map((value) => inserted.has(value.id));
      },
    });
  // An expedited chunk never waits for a bulk transaction of thousands of rows in flight.
  const transactions = sharedTransactions();
  const expeditedTransactions = sharedTransactions();
  const expeditedTopics = deps.expeditedTopics ?? new Set<string>();
  return async (records) => {
    const { decoded, deadLetters } = await decodeRecords<RoutedPattern>(records, deps.decoder);
    if (decoded.length === 0) return { messages: [], deadLetters };
    const batcher = expeditedTopics.has(records[0]!.topic) ? expeditedTransactions : transactions;
    const writeShared = async (values: RoutedPattern[]): Promise<string[]> => {
      const inserted = await batcher.submit(values);
      return values.filter((_, index) => inserted[index]).map((value) => value.id);
    };
    const { stored, rejected } = await writeIsolatingRejects(writeShared, deps.store, decoded);
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

/** Rows of one shared transaction (several chunks); a single chunk may be larger. */
const MAX_ROWS_PER_TRANSACTION = 1500;

/** A batch refused because of one of its records (dispositionOf says dead-letter). */
const isRecordRejection = (error: unknown): error is PipelineError =>
  error instanceof PipelineError && dispositionOf(error) === 'dead-letter';

/**
 * Writes the chunk in the shared transaction. When that transaction is refused because of a
 * record's content (a \u0000 escape that jsonb cannot store, a payload that is not JSON, a
 * record that cannot be made a row), which may be another chunk's record, this chunk is
 * written again one record at a time, each in its own transaction, so that only the
 * offending records are dead-lettered, never a whole batch and never a crash loop.
 * Outages and other failures propagate (retried or fatal, by their code).
 */
async function writeIsolatingRejects(
  writeShared: (values: RoutedPattern[]) => Promise<string[]>,
  store: Pick<SinkStore, 'writeBatch'>,
  decoded: readonly Decoded<RoutedPattern>[],
): Promise<{ stored: { values: RoutedPattern[]; insertedIds: string[] }; rejected: DeadLetter[] }> {
  const values = decoded.map((item) => item.value);
  try {
    return { stored: { values, insertedIds: await writeShared(values) }, rejected: [] };
  } catch (error) {
    if (!isRecordRejection(error)) throw error;
  }
  const stored = { values: [] as RoutedPattern[], insertedIds: [] as string[] };
  const rejected: DeadLetter[] = [];
  for (const item of decoded) {
    try {
      const result = await store.writeBatch([item.value]);
      stored.values.push(item.value);
      stored.insertedIds.push(...result.insertedIds);
    } catch (error) {
      if (!isRecordRejection(error)) throw error;
      rejected.push(reject(item, error));
    }
  }
  return { stored, rejected };
}

/** The dead letter of a record the store refused on its own: same code, the record's id in front. */
function reject(item: Decoded<RoutedPattern>, error: PipelineError): DeadLetter {
  return {
    record: item.record,
    error: new PipelineError(error.code, `record ${item.value.id} was not stored: ${error.message}`, {
      cause: error,
      details: { ...error.details, id: item.value.id },
    }),
  };
}
