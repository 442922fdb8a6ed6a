/**
 * The sink store (PostgreSQL rows + bulk-lane cold files) against the real database:
 * cold files hold exactly the newly stored bulk records, once, even across a crash
 * between the rename and the COMMIT. Each test has its own PG schema and cold directory.
 *
 * Run with PF_COLD_CRASH_CHILD set, this file is instead the crashing sink process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { stack } from '@patternflow/harness';
import type { RoutedPattern } from '@patternflow/records';
import pg from 'pg';
import { createSinkStore } from '../../services/sink/src/cold-storage.ts';
import { SinkCommitUnknownError } from '../../services/sink/src/sink-errors.ts';

const DAY1 = Date.UTC(2026, 10, 24, 22, 0);
const DAY2 = Date.UTC(2026, 10, 25, 3, 0);

function routed(id: string, lane: string, eventTime = DAY1): RoutedPattern {
  return {
    id,
    source: 'netflow',
    kind: 'flow',
    event_time: eventTime,
    ingest_time: eventTime + 10,
    tenant: 'acme',
    tier: 'free',
    region: 'eu-west',
    attributes: { bytes: 512 },
    payload: '{"bytes":512}',
    payload_format: 'JSON',
    payload_schema_id: null,
    inference: {
      label: 'benign',
      score: 0.95,
      scores: { benign: 0.95 },
      model_name: 'nf',
      model_version: '1',
      model_sha256: 'c0ffee',
      inferred_at: eventTime,
    },
    route: { lane, rule: 'r', policy_version: 'p1', routed_at: eventTime },
  };
}

/** A pool in a fresh schema (search_path), plus a fresh cold directory; both removed after the test. */
async function sandbox(t: { after: (fn: () => Promise<void>) => void }) {
  const schema = `cold_test_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: stack.pgUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = new pg.Pool({ connectionString: stack.pgUrl, options: `-c search_path=${schema}`, max: 4 });
  const coldDir = mkdtempSync(join(tmpdir(), 'pf-cold-it-'));
  t.after(async () => {
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
    rmSync(coldDir, { recursive: true, force: true });
  });
  return { schema, pool, coldDir };
}

/** Every file under dir, relative, sorted. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** Every line of all final cold files of the default instance ("sink"), parsed. */
function coldRecords(dir: string): Array<Omit<RoutedPattern, 'payload'> & { payload: unknown }> {
  return listFiles(dir)
    .filter((f) => /\/part-sink-\d{13}-[0-9a-f]{8}\.ndjson\.gz$/.test(f))
    .flatMap((f) =>
      gunzipSync(readFileSync(join(dir, f)))
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l)),
    );
}

/** Ids in all final cold files of the default instance ("sink"), with repetitions, sorted. */
function coldIds(dir: string): string[] {
  return coldRecords(dir)
    .map((r) => r.id)
    .sort();
}

async function rowCount(pool: pg.Pool): Promise<number> {
  return Number((await pool.query('SELECT count(*) AS n FROM patterns')).rows[0].n);
}

if (process.env.PF_COLD_CRASH_CHILD) {
  // The crashing sink: SIGKILL itself after the cold files are renamed, before COMMIT.
  const { schema, coldDir, recordsFile } = JSON.parse(process.env.PF_COLD_CRASH_CHILD);
  const pool = new pg.Pool({ connectionString: stack.pgUrl, options: `-c search_path=${schema}` });
  const store = createSinkStore({
    pool,
    coldDir,
    faults: { afterColdRename: () => void process.kill(process.pid, 'SIGKILL') },
  });
  await store.writeBatch(JSON.parse(readFileSync(recordsFile, 'utf8')));
  process.exit(3); // not reached when the fault fires
} else {
  describe('sink store: rows and cold files together', () => {
    test('cold files contain exactly the newly stored bulk ids, once, partitioned by lane and UTC day', async (t) => {
      const { pool, coldDir } = await sandbox(t);
      const store = createSinkStore({ pool, coldDir });
      await store.migrate();
      assert.deepEqual(await store.reconcile(), { removedTemp: [], removedUncommitted: [] });

      const first = [
        routed('b1', 'bulk', DAY1),
        routed('b2', 'bulk', DAY2),
        routed('b3', 'bulk', DAY2),
        routed('c1', 'critical'),
        routed('s1', 'standard'),
      ];
      const r1 = await store.writeBatch(first);
      assert.equal(r1.inserted, 5);
      assert.equal(r1.coldFiles.length, 2, 'one file per day partition');
      assert.deepEqual(listFiles(coldDir), [...r1.coldFiles].sort());
      for (const f of r1.coldFiles)
        assert.match(f, /^lane=bulk\/date=2026-11-2[45]\/part-sink-\d{13}-[0-9a-f]{8}\.ndjson\.gz$/);
      assert.deepEqual(coldIds(coldDir), ['b1', 'b2', 'b3']);
      for (const line of coldRecords(coldDir)) {
        assert.deepEqual(
          line.payload,
          { bytes: 512 },
          'the payload is a JSON value, not a string holding JSON',
        );
      }

      // Replay: nothing new, so no new file.
      const r2 = await store.writeBatch(first);
      assert.deepEqual([r2.inserted, r2.duplicates, r2.coldFiles], [0, 5, []]);
      assert.equal(listFiles(coldDir).length, 2);

      // Mixed old and new: only the new bulk ids are appended, in a new file.
      const r3 = await store.writeBatch([
        routed('b1', 'bulk'),
        routed('b4', 'bulk'),
        routed('s2', 'standard'),
      ]);
      assert.deepEqual([r3.inserted, r3.duplicates, r3.coldFiles.length], [2, 1, 1]);
      assert.deepEqual(coldIds(coldDir), ['b1', 'b2', 'b3', 'b4']);
      assert.equal(await rowCount(pool), 7);

      const recorded = await pool.query('SELECT path, records FROM cold_files ORDER BY path');
      assert.deepEqual(
        recorded.rows.map((r) => r.path),
        listFiles(coldDir),
        'cold_files lists exactly the files on disk',
      );
      assert.deepEqual(
        await store.reconcile(),
        { removedTemp: [], removedUncommitted: [] },
        'committed files stay',
      );
    });

    test('a bulk record whose payload is not JSON is SINK_REJECTED and leaves no row and no file', async (t) => {
      const { pool, coldDir } = await sandbox(t);
      const store = createSinkStore({ pool, coldDir });
      await store.migrate();
      const bad = { ...routed('nj1', 'bulk'), payload: '{"bytes":' };
      await assert.rejects(store.writeBatch([routed('ok1', 'bulk'), bad]), (e: unknown) => {
        assert.ok(e instanceof PipelineError);
        assert.equal(e.code, ErrorCodes.SINK_REJECTED, e.message);
        return true;
      });
      assert.equal(await rowCount(pool), 0);
      assert.deepEqual(listFiles(coldDir), [], 'no file holds a broken line');
      // The sink handler then writes the records one by one: the good one lands, in a valid file.
      await store.writeBatch([routed('ok1', 'bulk')]);
      await assert.rejects(store.writeBatch([bad]), { code: ErrorCodes.SINK_REJECTED });
      assert.deepEqual(coldIds(coldDir), ['ok1']);
      assert.deepEqual(coldRecords(coldDir)[0]!.payload, { bytes: 512 });
    });

    test('a failure after the rename, before COMMIT, rolls back and removes the files; a retry writes them once', async (t) => {
      const { pool, coldDir } = await sandbox(t);
      let failNext = true;
      const store = createSinkStore({
        pool,
        coldDir,
        faults: {
          afterColdRename: () => {
            if (failNext) {
              failNext = false;
              throw Object.assign(new Error('disk hiccup'), { code: 'EIO' });
            }
          },
        },
      });
      await store.migrate();
      const records = [routed('x1', 'bulk'), routed('x2', 'bulk'), routed('x3', 'standard')];
      await assert.rejects(store.writeBatch(records), (e: unknown) => {
        assert.ok(e instanceof PipelineError);
        // retried, and rolled back (not a COMMIT of unknown outcome)
        assert.equal(e.code, ErrorCodes.SINK_UNAVAILABLE);
        assert.equal(e.details.nodeCode, 'EIO');
        return true;
      });
      assert.equal(await rowCount(pool), 0);
      assert.deepEqual(listFiles(coldDir), []);
      const retry = await store.writeBatch(records);
      assert.equal(retry.inserted, 3);
      assert.deepEqual(coldIds(coldDir), ['x1', 'x2']);
    });

    test('SIGKILL between rename and COMMIT: reconcile() deletes the orphan file, a replay writes it once', async (t) => {
      const { schema, pool, coldDir } = await sandbox(t);
      const store = createSinkStore({ pool, coldDir });
      await store.migrate();
      const committed = await store.writeBatch([routed('old-1', 'bulk')]);
      assert.equal(committed.coldFiles.length, 1);

      const batch = [
        routed('k1', 'bulk'),
        routed('k2', 'bulk', DAY2),
        routed('k3', 'critical'),
        routed('old-1', 'bulk'),
      ];
      const recordsFile = join(coldDir, '..', `${schema}.records.json`);
      writeFileSync(recordsFile, JSON.stringify(batch));
      t.after(() => rmSync(recordsFile, { force: true }));
      // A stray temp file of an earlier crash, and a file of another sink instance, which must be left alone.
      const day = join(coldDir, 'lane=bulk', 'date=2026-11-24');
      mkdirSync(day, { recursive: true });
      writeFileSync(join(day, `.part-sink-${Date.now()}-0000abcd.ndjson.gz.tmp`), 'partial');
      const foreign = `part-sink-b-${Date.now()}-0000beef.ndjson.gz`;
      writeFileSync(join(day, foreign), 'another instance');

      const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
        env: { ...process.env, PF_COLD_CRASH_CHILD: JSON.stringify({ schema, coldDir, recordsFile }) },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_c, s) => resolve(s)),
      );
      assert.equal(signal, 'SIGKILL', `the child died by the injected fault (stderr: ${stderr})`);

      // The crash left renamed final files for k1/k2 on disk, but their rows never committed.
      assert.deepEqual(
        coldIds(coldDir).filter((id) => id !== 'old-1'),
        ['k1', 'k2'],
        'orphans exist before reconcile',
      );
      // The server notices the dead connection and aborts its transaction; wait for that.
      for (let i = 0; i < 50; i++) {
        const open = await pool.query(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND query LIKE 'INSERT INTO cold_files%'",
        );
        if (Number(open.rows[0].n) === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await rowCount(pool), 1, 'only the earlier committed row exists');

      const report = await store.reconcile();
      assert.equal(report.removedTemp.length, 1);
      assert.equal(report.removedUncommitted.length, 2, 'one orphan per day partition');
      assert.deepEqual(
        coldIds(coldDir).filter((id) => id !== 'old-1'),
        [],
      );
      assert.ok(
        listFiles(coldDir).includes(`lane=bulk/date=2026-11-24/${foreign}`),
        'other instances untouched',
      );
      assert.ok(listFiles(coldDir).includes(committed.coldFiles[0] as string), 'committed files untouched');

      // Kafka redelivers the uncommitted batch: every bulk record lands in a file exactly once.
      const replay = await store.writeBatch(batch);
      assert.deepEqual([replay.inserted, replay.duplicates], [3, 1]);
      const replayAgain = await store.writeBatch(batch);
      assert.equal(replayAgain.inserted, 0);
      assert.deepEqual(coldIds(coldDir), ['k1', 'k2', 'old-1']);
      assert.equal(await rowCount(pool), 4);
    });

    test('after a COMMIT of unknown outcome the next batch reconciles first', async (t) => {
      const { pool, coldDir } = await sandbox(t);
      const store = createSinkStore({ pool, coldDir });
      await store.migrate();
      // Fail the COMMIT: a deferred constraint trigger that raises at commit time on a marked row.
      await pool.query(`CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.tenant = 'fail-at-commit' THEN RAISE EXCEPTION 'commit refused' USING ERRCODE = '40001'; END IF; RETURN NULL; END $$`);
      await pool.query(
        'CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON patterns DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit()',
      );
      const doomed = { ...routed('u1', 'bulk'), tenant: 'fail-at-commit' };
      await assert.rejects(store.writeBatch([doomed]), (e: unknown) => {
        assert.ok(e instanceof SinkCommitUnknownError);
        assert.equal(e.code, ErrorCodes.SINK_COMMIT_UNKNOWN);
        assert.match(e.transactionId ?? '', /^\d+$/, 'it names its transaction');
        return true;
      });
      assert.deepEqual(
        coldIds(coldDir),
        ['u1'],
        'the file stays: the writer cannot know whether COMMIT landed',
      );
      const next = await store.writeBatch([routed('u2', 'bulk')]);
      assert.equal(next.inserted, 1);
      assert.deepEqual(
        coldIds(coldDir),
        ['u2'],
        'the uncommitted file was reconciled away before the next batch',
      );
    });
  });
}
