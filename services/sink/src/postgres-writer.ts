/**
 * The sink's hot store: idempotent batched inserts into PostgreSQL. A batch is one
 * transaction: INSERT … ON CONFLICT (id) DO NOTHING RETURNING id, so a replayed record
 * never makes a second row and the caller learns exactly which ids are new. An optional
 * ColdBatch runs inside that same transaction (see cold-storage.ts) so that cold files
 * and rows commit or vanish together.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, PipelineError, recordFailure } from '@patternflow/errors';
import type { RoutedPattern } from '@patternflow/records';
import type pg from 'pg';
import { fromPostgres, SinkCommitUnknownError, type SinkContext } from './sink-errors.ts';

/** A cold file staged for the current transaction; its row goes into cold_files. */
export interface ColdFileEntry {
  /** Relative to the cold directory, e.g. lane=bulk/date=2026-11-25/part-….ndjson.gz */
  path: string;
  instanceId: string;
  lane: string;
  /** YYYY-MM-DD (UTC) */
  day: string;
  records: number;
}

/**
 * Files written as part of one writeBatch transaction. Call order: stage → (cold_files
 * insert) → publish → COMMIT. discard() is called only when the transaction is known not
 * to have committed; after an ambiguous COMMIT failure it is not called (see reconcile()).
 */
export interface ColdBatch {
  /** Writes durable temp files for the newly inserted records that belong in cold files. */
  stage(inserted: readonly RoutedPattern[]): Promise<readonly ColdFileEntry[]>;
  /** Renames the staged files into place and fsyncs their directories. */
  publish(): Promise<void>;
  /** Removes staged and published files (best effort). */
  discard(): Promise<void>;
}

export interface WriteResult {
  inserted: number;
  /** Records of the batch that made no new row: already stored, or repeated within the batch. */
  duplicates: number;
  insertedIds: string[];
}

export interface PostgresWriter {
  migrate(): Promise<void>;
  /**
   * Stores one batch in one transaction. Throws PipelineError SINK_UNAVAILABLE, SINK_REJECTED
   * (a row PostgreSQL refuses), RECORD_UNEXPECTED (a record that cannot be made a row),
   * SINK_FAILED, what `cold` throws, or SinkCommitUnknownError; all but the last mean the
   * transaction rolled back.
   */
  writeBatch(records: readonly RoutedPattern[], cold?: ColdBatch): Promise<WriteResult>;
}

export interface PostgresWriterOptions {
  pool: pg.Pool;
  /** Unqualified table name (default "patterns"); choose the schema with the pool's search_path. */
  table?: string;
}

/** A query whose failure is already a sink PipelineError (see sink-errors.ts). */
type Query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

const SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql');
const TABLE_PATTERN = /^[a-z_][a-z0-9_]{0,40}$/;
/** Serializes concurrent migrate() calls from several sink instances. */
const MIGRATE_LOCK_KEY = 'patternflow.sink.migrate';

interface Column {
  name: string;
  /** The column's type in json_to_recordset's row definition. */
  type: 'text' | 'float8' | 'int4';
  /** The value is JSON text already (a jsonb column): it is embedded in the document unquoted. */
  json?: true;
  /** SQL applied to the bound value; `$` stands for it. */
  expr?: string;
  value(r: RoutedPattern): string | number | null;
}

/** Epoch milliseconds become timestamptz exactly: to_timestamp() takes seconds as a double. */
const epochMs = 'to_timestamp($ / 1000.0)';
const COLUMNS: readonly Column[] = [
  { name: 'id', type: 'text', value: (r) => r.id },
  { name: 'source', type: 'text', value: (r) => r.source },
  { name: 'kind', type: 'text', value: (r) => r.kind },
  { name: 'tenant', type: 'text', value: (r) => r.tenant },
  { name: 'tier', type: 'text', value: (r) => r.tier },
  { name: 'region', type: 'text', value: (r) => r.region },
  { name: 'event_time', type: 'float8', expr: epochMs, value: (r) => r.event_time },
  { name: 'ingest_time', type: 'float8', expr: epochMs, value: (r) => r.ingest_time },
  { name: 'label', type: 'text', value: (r) => r.inference.label },
  { name: 'score', type: 'float8', value: (r) => r.inference.score },
  {
    name: 'scores',
    type: 'text',
    expr: '$::jsonb',
    json: true,
    value: (r) => JSON.stringify(r.inference.scores),
  },
  { name: 'model_name', type: 'text', value: (r) => r.inference.model_name },
  { name: 'model_version', type: 'text', value: (r) => r.inference.model_version },
  // '' when the tagger that labelled the record predates the field (the Avro default)
  { name: 'model_sha256', type: 'text', value: (r) => r.inference.model_sha256 ?? '' },
  { name: 'inferred_at', type: 'float8', expr: epochMs, value: (r) => r.inference.inferred_at },
  { name: 'lane', type: 'text', value: (r) => r.route.lane },
  { name: 'rule', type: 'text', value: (r) => r.route.rule },
  { name: 'policy_version', type: 'text', value: (r) => r.route.policy_version },
  { name: 'routed_at', type: 'float8', expr: epochMs, value: (r) => r.route.routed_at },
  {
    name: 'attributes',
    type: 'text',
    expr: '$::jsonb',
    json: true,
    value: (r) => JSON.stringify(r.attributes),
  },
  { name: 'payload', type: 'text', expr: '$::jsonb', json: true, value: (r) => r.payload },
  { name: 'payload_format', type: 'text', value: (r) => r.payload_format },
  { name: 'payload_schema_id', type: 'int4', value: (r) => r.payload_schema_id },
];
/** The column's SQL expression applied to `operand`. */
const applyExpr = (c: Column, operand: string): string => (c.expr ?? '$').replace('$', () => operand);

export function createPostgresWriter({ pool, table = 'patterns' }: PostgresWriterOptions): PostgresWriter {
  if (!TABLE_PATTERN.test(table)) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `sink table name "${table}" must match ${TABLE_PATTERN}`,
    );
  }
  const columnList = COLUMNS.map((c) => c.name).join(', ');

  // One JSON document for the whole batch, expanded by the server: the client does one
  // native JSON.stringify per field instead of pg's per-element array escaping, and the
  // jsonb columns (already JSON text) are embedded as they are.
  const jsonSql =
    `INSERT INTO ${table} (${columnList}) SELECT ` +
    COLUMNS.map((c) => (c.json ? `u.${c.name}` : applyExpr(c, `u.${c.name}`))).join(', ') +
    ` FROM json_to_recordset($1::json) AS u(${COLUMNS.map((c) => `${c.name} ${c.json ? 'jsonb' : c.type}`).join(', ')})` +
    ' ON CONFLICT (id) DO NOTHING RETURNING id';
  const jsonKeys = COLUMNS.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`);

  function rowsAsJson(rows: readonly RoutedPattern[]): string {
    const parts: string[] = ['['];
    rows.forEach((row, r) => {
      if (r > 0) parts.push(',');
      try {
        COLUMNS.forEach((c, i) => {
          const value = c.value(row);
          parts.push(jsonKeys[i]!, c.json && typeof value === 'string' ? value : JSON.stringify(value));
        });
      } catch (error) {
        // One record that cannot be made a row fails the batch with a dead-letter code;
        // the handler then writes the records one by one to find it.
        const failure = recordFailure(error);
        if (failure === undefined) throw error;
        throw new PipelineError(failure.code, `record ${row.id} cannot be made a row: ${failure.message}`, {
          cause: error,
          details: { ...failure.details, id: row.id },
        });
      }
      parts.push('}');
    });
    parts.push(']');
    return parts.join('');
  }

  async function insertRows(query: Query, rows: readonly RoutedPattern[]): Promise<string[]> {
    const res = await query<{ id: string }>(jsonSql, [rowsAsJson(rows)]);
    return res.rows.map((r) => r.id);
  }

  async function migrate(): Promise<void> {
    const migrations = [
      { name: `001_patterns:${table}`, file: '001_patterns.sql' },
      { name: '002_cold_files', file: '002_cold_files.sql' },
      { name: `003_model_sha256:${table}`, file: '003_model_sha256.sql' },
      { name: `004_feedback:${table}`, file: '004_feedback.sql' },
    ];
    await inTransaction(pool, 'migrate', async (query) => {
      await query('SELECT pg_advisory_xact_lock(hashtext($1))', [MIGRATE_LOCK_KEY]);
      await query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      for (const m of migrations) {
        const done = await query('SELECT 1 FROM schema_migrations WHERE name = $1', [m.name]);
        if (done.rowCount) continue;
        const sql = readFileSync(join(SQL_DIR, m.file), 'utf8').replaceAll('{{table}}', table);
        await query(sql);
        await query('INSERT INTO schema_migrations (name) VALUES ($1)', [m.name]);
      }
    });
  }

  async function writeBatch(records: readonly RoutedPattern[], cold?: ColdBatch): Promise<WriteResult> {
    // First occurrence wins; later copies of an id in the same batch count as duplicates.
    const byId = new Map<string, RoutedPattern>();
    for (const r of records) if (!byId.has(r.id)) byId.set(r.id, r);
    if (byId.size === 0) return { inserted: 0, duplicates: records.length, insertedIds: [] };
    const rows = [...byId.values()];

    const insertedIds = await inTransaction(
      pool,
      'writeBatch',
      async (query) => {
        const ids = await insertRows(query, rows);
        if (cold) {
          const files = await cold.stage(ids.map((id) => byId.get(id) as RoutedPattern));
          if (files.length > 0) {
            await query(
              'INSERT INTO cold_files (path, instance_id, lane, day, records)' +
                ' SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::int4[])',
              [
                files.map((f) => f.path),
                files.map((f) => f.instanceId),
                files.map((f) => f.lane),
                files.map((f) => f.day),
                files.map((f) => f.records),
              ],
            );
          }
          // The files are in place before COMMIT: a crash from here on leaves files that
          // cold_files does not list unless the COMMIT landed, and reconcile() decides by that.
          await cold.publish();
        }
        return ids;
      },
      cold,
    );
    return { inserted: insertedIds.length, duplicates: records.length - insertedIds.length, insertedIds };
  }

  return { migrate, writeBatch };
}

/**
 * Runs `work` in one transaction. Failures before COMMIT roll back (and discard the cold
 * files) and are thrown as they are; a failure of COMMIT itself leaves the outcome unknown,
 * thrown as SinkCommitUnknownError so that the caller reconciles before going on.
 */
async function inTransaction<T>(
  pool: pg.Pool,
  operation: string,
  work: (query: Query) => Promise<T>,
  cold?: ColdBatch,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw fromPostgres(err, { operation, phase: 'connect' });
  }
  // A checked-out client emits 'error' when the server ends its connection between
  // queries (e.g. admin shutdown); unhandled, that would crash the process. The next
  // query on it fails anyway, and that failure is what we report.
  const ignoreAsyncError = (): void => {};
  client.on('error', ignoreAsyncError);
  const context: SinkContext = { operation, phase: 'begin' };
  const query: Query = async (text, values) => {
    try {
      return await client.query(text, values);
    } catch (err) {
      throw fromPostgres(err, context);
    }
  };
  let xid: string | undefined;
  try {
    await query('BEGIN');
    // The transaction's id lets a reconcile after a COMMIT of unknown outcome wait until
    // the server has decided it (txid_status), instead of guessing from cold_files.
    xid = (await query<{ xid: string }>('SELECT txid_current()::text AS xid')).rows[0]?.xid;
    context.phase = 'work';
    const result = await work(query);
    context.phase = 'commit';
    await query('COMMIT');
    client.off('error', ignoreAsyncError);
    client.release();
    return result;
  } catch (err) {
    // Destroy the connection rather than return a possibly broken one to the pool; the
    // server rolls back an open transaction when its connection closes.
    client.off('error', ignoreAsyncError);
    client.release(true);
    if (context.phase === 'commit') {
      throw new SinkCommitUnknownError(xid, fromPostgres(err, context), context);
    }
    if (cold) await cold.discard();
    throw err;
  }
}
