import type { StageHandler } from '@patternflow/kafka';
import type { RoutedPattern } from '@patternflow/records';
import type { SchemaDecoder } from '@patternflow/registry';
import { decodeRecords } from '@patternflow/service';
import type { Counter, Histogram } from 'prom-client';
import type { SinkStore } from './cold-storage.ts';

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
    const values = decoded.map((item) => item.value);
    const result = await deps.store.writeBatch(values);
    const written = now();
    const inserted = new Set(result.insertedIds);
    for (const record of values) {
      const isNew = inserted.delete(record.id);
      deps.rows.inc({ lane: record.route.lane, result: isNew ? 'inserted' : 'duplicate' });
      // Ingest → durable write, for the records this batch really stored.
      if (isNew) deps.latency.observe({ lane: record.route.lane }, (written - record.ingest_time) / 1000);
    }
    return { messages: [], deadLetters };
  };
}
