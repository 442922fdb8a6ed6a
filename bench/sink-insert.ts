/**
 * Sink insert modes compared on the real PostgreSQL: rows/s and client CPU per row for
 * 12 000 generated records in 1000-row batches, each mode twice, interleaved.
 *   node bench/sink-insert.ts   (needs `make up`)
 */
import type { RoutedPattern } from '@patternflow/records';
import { generateEvents, toNormalizedPattern } from '@patternflow/sources';
import pg from 'pg';
import { createPostgresWriter } from '../services/sink/src/postgres-writer.ts';
import { stack } from '../test/helpers/stack.ts';

const schema = `bench_sink_${process.pid}`;
const pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2, options: `-c search_path=${schema}` });
await pool.query(`CREATE SCHEMA ${schema}`);
try {
  const rows: RoutedPattern[] = [];
  for (const { source, event } of generateEvents({ seed: 9, count: 12_000 })) {
    rows.push({
      ...toNormalizedPattern(source, event),
      inference: {
        label: 'legit',
        score: 0.9,
        scores: { legit: 0.9, fraud: 0.1 },
        model_name: 'm',
        model_version: '1',
        inferred_at: 1,
      },
      route: { lane: 'bulk', rule: 'r', policy_version: 'v', routed_at: 2 },
    });
  }
  for (const mode of ['unnest', 'json', 'unnest', 'json'] as const) {
    await pool.query('DROP TABLE IF EXISTS patterns, cold_files, schema_migrations');
    const writer = createPostgresWriter({ pool, insertMode: mode });
    await writer.migrate();
    const cpu = process.cpuUsage();
    const started = Date.now();
    for (let i = 0; i < rows.length; i += 1000) await writer.writeBatch(rows.slice(i, i + 1000));
    const used = process.cpuUsage(cpu);
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `${mode.padEnd(6)} ${Math.round(rows.length / seconds)} rows/s, client CPU ${((used.user + used.system) / rows.length).toFixed(1)} µs/row`,
    );
  }
} finally {
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
}
