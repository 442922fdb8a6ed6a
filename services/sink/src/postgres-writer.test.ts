/** The writer's transaction and error paths with a fake pg client (the real database: test/integration). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import { routedPattern } from '@patternflow/fixtures';
import type { RoutedPattern } from '@patternflow/records';
import type pg from 'pg';
import { type ColdBatch, createPostgresWriter } from './postgres-writer.ts';
import { SinkCommitUnknownError } from './sink-errors.ts';

const routed = (id: string): RoutedPattern => routedPattern({ id, route: { lane: 'bulk' } });

/** A pool with one fake client that answers like PostgreSQL; `failOn` makes a statement fail. */
function fakePool(failOn?: { statement: RegExp; error: Error }) {
  const statements: string[] = [];
  let released: 'kept' | 'destroyed' | undefined;
  const client = {
    on() {},
    off() {},
    release(destroy?: boolean) {
      released = destroy ? 'destroyed' : 'kept';
    },
    async query(text: string, values?: unknown[]) {
      statements.push(text.split(' ')[0]!);
      if (failOn?.statement.test(text)) throw failOn.error;
      if (text.startsWith('SELECT txid_current()')) return { rows: [{ xid: '4711' }] };
      if (text.startsWith('INSERT INTO patterns')) {
        const rows = JSON.parse(String(values?.[0])) as { id: string }[];
        return { rows: rows.map((r) => ({ id: r.id })) };
      }
      return { rows: [] };
    },
  };
  const pool = { connect: async () => client } as unknown as pg.Pool;
  return { pool, statements, released: () => released };
}

const trackingCold = () => {
  const calls: string[] = [];
  const cold: ColdBatch = {
    stage: async () => {
      calls.push('stage');
      return [];
    },
    publish: async () => {
      calls.push('publish');
    },
    discard: async () => {
      calls.push('discard');
    },
  };
  return { cold, calls };
};

test('a batch is one transaction: BEGIN, txid, one INSERT, COMMIT; the connection goes back to the pool', async () => {
  const { pool, statements, released } = fakePool();
  const result = await createPostgresWriter({ pool }).writeBatch([routed('a'), routed('b'), routed('a')]);
  assert.deepEqual(result, { inserted: 2, duplicates: 1, insertedIds: ['a', 'b'] });
  assert.deepEqual(statements, ['BEGIN', 'SELECT', 'INSERT', 'COMMIT']);
  assert.equal(released(), 'kept');
});

test('a record that cannot be made a row fails the batch as PF_RECORD_UNEXPECTED naming it, before anything is sent', async () => {
  const { pool, statements, released } = fakePool();
  const { cold, calls } = trackingCold();
  const broken = { ...routed('broken'), inference: undefined } as unknown as RoutedPattern;
  await assert.rejects(
    createPostgresWriter({ pool }).writeBatch([routed('a'), broken], cold),
    (e: unknown) => {
      assert.ok(e instanceof PipelineError);
      assert.equal(e.code, ErrorCodes.RECORD_UNEXPECTED);
      assert.equal(dispositionOf(e), 'dead-letter');
      assert.equal(e.details.id, 'broken');
      assert.match(e.message, /record broken cannot be made a row: unexpected TypeError/);
      return true;
    },
  );
  assert.deepEqual(statements, ['BEGIN', 'SELECT'], 'no INSERT, no COMMIT');
  assert.deepEqual(calls, ['discard']);
  assert.equal(released(), 'destroyed');
});

test('a failure before COMMIT is thrown as mapped, and the cold files are discarded', async () => {
  const lost = new Error('Connection terminated unexpectedly');
  const { pool } = fakePool({ statement: /^INSERT INTO cold_files/, error: lost });
  const { cold, calls } = trackingCold();
  cold.stage = async () => {
    calls.push('stage');
    return [
      { path: 'lane=bulk/date=2026-11-25/x', instanceId: 'i', lane: 'bulk', day: '2026-11-25', records: 1 },
    ];
  };
  await assert.rejects(createPostgresWriter({ pool }).writeBatch([routed('a')], cold), (e: unknown) => {
    assert.ok(e instanceof PipelineError);
    assert.ok(!(e instanceof SinkCommitUnknownError));
    assert.equal(e.code, ErrorCodes.SINK_UNAVAILABLE);
    assert.equal(e.cause, lost);
    return true;
  });
  assert.deepEqual(calls, ['stage', 'discard']);
});

test('a COMMIT without an answer is SinkCommitUnknownError with the transaction id; the cold files stay', async () => {
  const { pool } = fakePool({ statement: /^COMMIT/, error: new Error('Connection terminated unexpectedly') });
  const { cold, calls } = trackingCold();
  await assert.rejects(createPostgresWriter({ pool }).writeBatch([routed('a')], cold), (e: unknown) => {
    assert.ok(e instanceof SinkCommitUnknownError);
    assert.equal(e.code, ErrorCodes.SINK_COMMIT_UNKNOWN);
    assert.equal(e.transactionId, '4711');
    assert.equal(dispositionOf(e), 'retry');
    return true;
  });
  assert.deepEqual(calls, ['stage', 'publish'], 'not discarded: the COMMIT may have landed');
});
