/** The sink's PostgreSQL writer against the real database; every test works in its own schema. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type ErrorCode, ErrorCodes, PipelineError } from '@patternflow/errors';
import { stack } from '@patternflow/harness';
import type { RoutedPattern } from '@patternflow/records';
import pg from 'pg';
import { Registry } from 'prom-client';
import {
  createFeedbackCounter,
  createFeedbackHandler,
  createFeedbackQuality,
} from '../../services/sink/src/feedback.ts';
import { createPostgresWriter } from '../../services/sink/src/postgres-writer.ts';

function routed(
  id: string,
  over: { lane?: string; event_time?: number; payload?: string } = {},
): RoutedPattern {
  return {
    id,
    source: 'payments',
    kind: 'card_payment',
    event_time: over.event_time ?? Date.UTC(2026, 10, 25, 12, 30, 0, 123),
    ingest_time: Date.UTC(2026, 10, 25, 12, 30, 1, 456),
    tenant: 'acme',
    tier: 'free',
    region: 'eu-west',
    attributes: { amount: 12.5, currency: 'EUR', 'card.present': true, note: null },
    payload: over.payload ?? '{"amount":12.5,"currency":"EUR"}',
    payload_format: 'JSON',
    payload_schema_id: null,
    inference: {
      label: 'legit',
      score: 0.97,
      scores: { legit: 0.97, fraud: 0.03 },
      model_name: 'payments-gbt',
      model_version: '1.2.0',
      model_sha256: 'c0ffee',
      inferred_at: Date.UTC(2026, 10, 25, 12, 30, 2),
    },
    route: {
      lane: over.lane ?? 'bulk',
      rule: 'benign-low-tier',
      policy_version: 'p1',
      routed_at: Date.UTC(2026, 10, 25, 12, 30, 3),
    },
  };
}

const batch = (prefix: string, n: number): RoutedPattern[] =>
  Array.from({ length: n }, (_, i) => routed(`${prefix}-${i}`));

/** A pool whose connections live in a fresh schema, dropped after the test. */
async function schemaPool(t: {
  after: (fn: () => Promise<void>) => void;
}): Promise<{ pool: pg.Pool; schema: string }> {
  const schema = `sink_test_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: stack.pgUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = new pg.Pool({ connectionString: stack.pgUrl, options: `-c search_path=${schema}`, max: 4 });
  t.after(async () => {
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  });
  return { pool, schema };
}

async function count(pool: pg.Pool, table = 'patterns'): Promise<number> {
  const res = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(res.rows[0]?.n);
}

/** Awaits a sink failure with `code`; `cause` is the SQLSTATE or Node error code behind it. */
async function expectSinkError(
  promise: Promise<unknown>,
  code: ErrorCode,
  cause?: { sqlstate: string } | { nodeCode: string },
): Promise<PipelineError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PipelineError, `expected a PipelineError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (cause !== undefined) {
    for (const [key, value] of Object.entries(cause))
      assert.equal(caught.details[key], value, caught.message);
  }
  return caught;
}

describe('postgres writer', () => {
  test('migrate() creates the table and indexes, and is idempotent', async (t) => {
    const { pool, schema } = await schemaPool(t);
    const writer = createPostgresWriter({ pool });
    await writer.migrate();
    await writer.migrate();
    const idx = await pool.query<{ indexname: string }>(
      'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY 1',
      [schema, 'patterns'],
    );
    assert.deepEqual(
      idx.rows.map((r) => r.indexname),
      [
        'patterns_label_idx',
        'patterns_lane_event_time_idx',
        'patterns_pkey',
        'patterns_tenant_event_time_idx',
      ],
    );
    const applied = await pool.query('SELECT name FROM schema_migrations ORDER BY name');
    assert.deepEqual(
      applied.rows.map((r) => r.name),
      ['001_patterns:patterns', '002_cold_files', '003_model_sha256:patterns', '004_feedback:patterns'],
    );
  });

  test('N records make N rows; the same batch again inserts 0; mixed new and old inserts only the new', async (t) => {
    const { pool } = await schemaPool(t);
    const writer = createPostgresWriter({ pool });
    await writer.migrate();
    const first = batch('a', 1000);
    const r1 = await writer.writeBatch(first);
    assert.equal(r1.inserted, 1000);
    assert.equal(r1.duplicates, 0);
    assert.equal(new Set(r1.insertedIds).size, 1000);
    assert.equal(await count(pool), 1000);

    const r2 = await writer.writeBatch(first);
    assert.deepEqual(r2, { inserted: 0, duplicates: 1000, insertedIds: [] });
    assert.equal(await count(pool), 1000);

    const mixed = [...first.slice(0, 10), ...batch('b', 5)];
    const r3 = await writer.writeBatch(mixed);
    assert.equal(r3.inserted, 5);
    assert.equal(r3.duplicates, 10);
    assert.deepEqual([...r3.insertedIds].sort(), ['b-0', 'b-1', 'b-2', 'b-3', 'b-4']);
    assert.equal(await count(pool), 1005);
  });

  test('ids repeated within one batch make one row; the first copy wins', async (t) => {
    const { pool } = await schemaPool(t);
    const writer = createPostgresWriter({ pool });
    await writer.migrate();
    const a = routed('dup');
    const b = { ...routed('dup'), tenant: 'second-copy' };
    const res = await writer.writeBatch([a, b, routed('other')]);
    assert.equal(res.inserted, 2);
    assert.equal(res.duplicates, 1);
    const row = await pool.query('SELECT tenant FROM patterns WHERE id = $1', ['dup']);
    assert.equal(row.rows[0]?.tenant, 'acme');
    assert.deepEqual(await writer.writeBatch([]), { inserted: 0, duplicates: 0, insertedIds: [] });
  });

  test('every field round-trips with its SQL type', async (t) => {
    const { pool } = await schemaPool(t);
    const writer = createPostgresWriter({ pool, table: 'hot_patterns' });
    await writer.migrate();
    const rec = routed('rt-1');
    await writer.writeBatch([rec]);
    const { rows } = await pool.query('SELECT * FROM hot_patterns');
    const row = rows[0];
    assert.equal((row.event_time as Date).getTime(), rec.event_time, 'millisecond precision kept');
    assert.equal((row.ingest_time as Date).getTime(), rec.ingest_time);
    assert.equal((row.inferred_at as Date).getTime(), rec.inference.inferred_at);
    assert.equal((row.routed_at as Date).getTime(), rec.route.routed_at);
    assert.equal(row.score, 0.97);
    assert.deepEqual(row.scores, rec.inference.scores);
    assert.deepEqual(row.attributes, rec.attributes);
    assert.deepEqual(row.payload, JSON.parse(rec.payload));
    assert.equal(row.payload_schema_id, null);
    assert.deepEqual(
      [
        row.source,
        row.kind,
        row.tenant,
        row.tier,
        row.region,
        row.label,
        row.model_name,
        row.model_version,
        row.model_sha256,
      ],
      ['payments', 'card_payment', 'acme', 'free', 'eu-west', 'legit', 'payments-gbt', '1.2.0', 'c0ffee'],
    );
    assert.deepEqual(
      [row.lane, row.rule, row.policy_version, row.payload_format],
      ['bulk', 'benign-low-tier', 'p1', 'JSON'],
    );
    assert.ok(row.written_at instanceof Date);
  });

  test('connection refused is SINK_UNAVAILABLE (retried)', async () => {
    const pool = new pg.Pool({
      host: '127.0.0.1',
      port: 1,
      user: 'x',
      database: 'x',
      connectionTimeoutMillis: 2000,
    });
    try {
      const err = await expectSinkError(
        createPostgresWriter({ pool }).writeBatch([routed('x')]),
        ErrorCodes.SINK_UNAVAILABLE,
        { nodeCode: 'ECONNREFUSED' },
      );
      assert.equal(err.details.phase, 'connect');
    } finally {
      await pool.end();
    }
  });

  test('a data error (payload that is not JSON) is SINK_REJECTED, names the SQLSTATE, and writes nothing', async (t) => {
    const { pool } = await schemaPool(t);
    const writer = createPostgresWriter({ pool });
    await writer.migrate();
    const err = await expectSinkError(
      writer.writeBatch([routed('good'), routed('bad', { payload: '{not json' })]),
      ErrorCodes.SINK_REJECTED,
      { sqlstate: '22P02' },
    );
    assert.match(err.message, /invalid input syntax for type json/);
    assert.match(err.message, /SQLSTATE 22P02/);
    assert.equal(await count(pool), 0, 'the whole batch rolled back');
  });

  test('a missing table (migrate never ran) is SINK_FAILED (fatal)', async (t) => {
    const { pool } = await schemaPool(t);
    await expectSinkError(createPostgresWriter({ pool }).writeBatch([routed('x')]), ErrorCodes.SINK_FAILED, {
      sqlstate: '42P01',
    });
  });

  test('the backend terminated by an admin mid-transaction is SINK_UNAVAILABLE and commits nothing', async (t) => {
    const { pool } = await schemaPool(t);
    const writer = createPostgresWriter({ pool });
    await writer.migrate();
    const killer = new pg.Client({ connectionString: stack.pgUrl });
    await killer.connect();
    t.after(() => killer.end());
    let discarded = false;
    const err = await expectSinkError(
      writer.writeBatch([routed('k-1'), routed('k-2')], {
        // Runs inside the transaction, after the INSERT: terminate our own backend (SQLSTATE 57P01).
        stage: async () => {
          const me = await killer.query(
            "SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = current_database() AND query LIKE 'INSERT INTO patterns%'",
          );
          assert.equal(me.rowCount, 1, 'found the writer backend');
          await killer.query('SELECT pg_terminate_backend($1)', [me.rows[0].pid]);
          return [
            {
              path: 'lane=bulk/date=2026-11-25/x',
              instanceId: 'i',
              lane: 'bulk',
              day: '2026-11-25',
              records: 2,
            },
          ];
        },
        publish: async () => assert.fail('publish must not run after the transaction failed'),
        discard: async () => {
          discarded = true;
        },
      }),
      ErrorCodes.SINK_UNAVAILABLE,
    );
    assert.equal(err.details.phase, 'work', 'failed before COMMIT: rolled back, not of unknown outcome');
    assert.ok(discarded, 'cold files discarded');
    assert.equal(await count(pool), 0);
    assert.equal((await writer.writeBatch([routed('k-1'), routed('k-2')])).inserted, 2, 'a retry succeeds');
  });

  test('table names are validated', () => {
    assert.throws(
      () => createPostgresWriter({ pool: {} as pg.Pool, table: 'patterns; DROP TABLE x' }),
      (e: unknown) => e instanceof PipelineError && e.code === ErrorCodes.CONFIG_INVALID,
    );
  });
});

describe('feedback store', () => {
  const message = (id: string, label: string, offset: number) => ({
    topic: 'patterns.feedback',
    partition: 0,
    offset: String(offset),
    timestamp: 0,
    key: null,
    value: Buffer.from(JSON.stringify({ id, label })),
    headers: {},
  });

  test('feedback before its prediction joins once the row exists; a later truth replaces one; P/R/F1 by SQL', async (t) => {
    const { pool } = await schemaPool(t);
    const writer = createPostgresWriter({ pool });
    await writer.migrate();
    const registry = new Registry();
    const handler = createFeedbackHandler({ pool, received: createFeedbackCounter(registry) });
    const quality = createFeedbackQuality({ pool, registry, window: { pairs: 1000, hours: 1 } });

    // Truth for f-0..f-3 before any prediction is stored; f-1's truth is corrected later.
    await handler([message('f-0', 'fraud', 0), message('f-1', 'fraud', 1), message('f-2', 'legit', 2)]);
    await handler([message('f-1', 'legit', 3), message('f-3', 'fraud', 4), message('nobody', 'fraud', 5)]);
    let state = await quality.refresh();
    assert.deepEqual([state.joined, state.received, state.classes.length], [0, 5, 0]);

    // Predictions (all labelled legit by payments-gbt 1.2.0): f-0 fraud→legit (fn), f-1 legit (tp),
    // f-2 legit (tp), f-3 fraud→legit (fn).
    await writer.writeBatch(['f-0', 'f-1', 'f-2', 'f-3'].map((id) => routed(id)));
    state = await quality.refresh();
    assert.deepEqual([state.joined, state.received], [4, 5]);
    const byClass = Object.fromEntries(state.classes.map((c) => [c.class, c]));
    assert.deepEqual(
      { tp: byClass.legit!.tp, fp: byClass.legit!.fp, fn: byClass.legit!.fn },
      { tp: 2, fp: 2, fn: 0 },
    );
    assert.equal(byClass.legit!.precision, 0.5);
    assert.equal(byClass.legit!.recall, 1);
    assert.deepEqual(
      { tp: byClass.fraud!.tp, fp: byClass.fraud!.fp, fn: byClass.fraud!.fn },
      { tp: 0, fp: 0, fn: 2 },
    );
    assert.equal(byClass.fraud!.precision, undefined, 'never predicted: no precision');
    assert.equal(byClass.fraud!.recall, 0);

    const view = await pool.query(
      'SELECT id, true_label, predicted_label, model_name, model_version FROM pattern_feedback_joined ORDER BY id',
    );
    assert.deepEqual(
      view.rows.map((r) => [r.id, r.true_label, r.predicted_label, r.model_name, r.model_version]),
      [
        ['f-0', 'fraud', 'legit', 'payments-gbt', '1.2.0'],
        ['f-1', 'legit', 'legit', 'payments-gbt', '1.2.0'],
        ['f-2', 'legit', 'legit', 'payments-gbt', '1.2.0'],
        ['f-3', 'fraud', 'legit', 'payments-gbt', '1.2.0'],
      ],
    );
    const text = await registry.metrics();
    assert.match(text, /pf_feedback_precision\{model="payments-gbt",version="1.2.0",class="legit"\} 0.5/);
    assert.match(text, /pf_feedback_unmatched 1/);
  });

  test('the window keeps the latest pairs per model version', async (t) => {
    const { pool } = await schemaPool(t);
    const writer = createPostgresWriter({ pool });
    await writer.migrate();
    await writer.writeBatch(['w-0', 'w-1', 'w-2'].map((id) => routed(id)));
    const registry = new Registry();
    const handler = createFeedbackHandler({ pool, received: createFeedbackCounter(registry) });
    // w-0 (the oldest) disagrees; the two latest agree.
    await handler([message('w-0', 'fraud', 0)]);
    await handler([message('w-1', 'legit', 1)]);
    await handler([message('w-2', 'legit', 2)]);
    const quality = createFeedbackQuality({ pool, registry, window: { pairs: 2, hours: 1 } });
    const legit = (await quality.refresh()).classes.find((c) => c.class === 'legit')!;
    assert.deepEqual([legit.tp, legit.fp, legit.precision], [2, 0, 1]);
  });
});
