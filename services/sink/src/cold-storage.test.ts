import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { RoutedPattern } from '@patternflow/records';
import {
  coldLine,
  createColdBatch,
  createSharedExclusiveGate,
  encodeNdjsonGz,
  partitionDir,
  utcDay,
} from './cold-storage.ts';

function routed(id: string, lane: string, eventTime: number): RoutedPattern {
  return {
    id,
    source: 'netflow',
    kind: 'flow',
    event_time: eventTime,
    ingest_time: eventTime + 5,
    tenant: 't',
    tier: 'free',
    region: 'eu',
    attributes: { bytes: 10, note: 'line\nbreak "quoted"' },
    payload: '{"bytes":10}',
    payload_format: 'JSON',
    payload_schema_id: null,
    inference: {
      label: 'benign',
      score: 0.9,
      scores: { benign: 0.9 },
      model_name: 'm',
      model_version: '1',
      model_sha256: 'c0ffee',
      inferred_at: 0,
    },
    route: { lane, rule: 'r', policy_version: 'p', routed_at: 0 },
  };
}

const files = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();

/** What a cold line holds: the record, with its payload as a JSON value. */
type ColdRecord = Omit<RoutedPattern, 'payload'> & { payload: unknown };
const asColdRecord = (r: RoutedPattern): ColdRecord => ({ ...r, payload: JSON.parse(r.payload) });

const readNdjsonGz = (path: string): ColdRecord[] =>
  gunzipSync(readFileSync(path))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

describe('partition paths', () => {
  test('the date is the UTC day of event_time, not of the local clock', () => {
    assert.equal(utcDay(Date.UTC(2026, 0, 1, 0, 0, 0, 0)), '2026-01-01');
    assert.equal(utcDay(Date.UTC(2025, 11, 31, 23, 59, 59, 999)), '2025-12-31');
    assert.equal(partitionDir('bulk', Date.UTC(2026, 1, 28, 23, 0)), 'lane=bulk/date=2026-02-28');
  });
});

describe('gzip NDJSON', () => {
  test('one JSON record per line, newline-terminated, round-trips exactly with the payload as a JSON value', async () => {
    const records = [routed('a', 'bulk', 1), routed('b', 'bulk', 2)];
    const text = gunzipSync(await encodeNdjsonGz(records)).toString('utf8');
    assert.equal(text.split('\n').length, 3);
    assert.ok(text.endsWith('\n'));
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as ColdRecord);
    assert.deepEqual(lines, records.map(asColdRecord));
    assert.deepEqual(lines[0]!.payload, { bytes: 10 }, 'an object, not a string holding JSON');
  });

  test("the payload keeps the producer's exact JSON: every digit of a large number, and one line per record", () => {
    const payload =
      '{\r\n  "txn_id": 12345678901234567890123,\n  "note": "a\\nb",\n  "nested": [1.50, {"k": null}]\n}';
    const line = coldLine({ ...routed('big', 'bulk', 1), payload });
    assert.ok(!/[\r\n]/.test(line), 'the line breaks between tokens became spaces');
    assert.match(line, /"txn_id": 12345678901234567890123,/, 'not rounded to 12345678901234567000000');
    assert.match(line, /"nested": \[1\.50, /);
    const parsed = JSON.parse(line);
    assert.equal(parsed.payload.note, 'a\nb', 'an escaped newline inside a string is kept');
    assert.equal(parsed.id, 'big');
  });

  test('a payload that is not valid JSON cannot break a file: the record is SINK_REJECTED', async () => {
    for (const payload of ['{not json', '', '{"a":1}\n{"b":2}']) {
      assert.throws(
        () => coldLine({ ...routed('bad', 'bulk', 1), payload }),
        (e: unknown) =>
          e instanceof PipelineError &&
          e.code === ErrorCodes.SINK_REJECTED &&
          e.details.id === 'bad' &&
          /record bad: its payload is not valid JSON/.test(e.message),
        JSON.stringify(payload),
      );
    }
    await assert.rejects(
      encodeNdjsonGz([routed('a', 'bulk', 1), { ...routed('bad', 'bulk', 1), payload: '{' }]),
      {
        code: ErrorCodes.SINK_REJECTED,
      },
    );
  });
});

describe('createColdBatch', () => {
  const day1 = Date.UTC(2026, 10, 24, 23, 59);
  const day2 = Date.UTC(2026, 10, 25, 0, 1);

  test('stage writes hidden temp files per lane and day; publish renames them into place', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pf-cold-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let renamedSeen: string[] = [];
    const batch = createColdBatch({
      coldDir: dir,
      coldLanes: new Set(['bulk']),
      instanceId: 'sink-0',
      afterRename: () => {
        renamedSeen = files(dir);
      },
    });
    const entries = await batch.stage([
      routed('a', 'bulk', day1),
      routed('b', 'bulk', day2),
      routed('c', 'critical', day2),
      routed('d', 'bulk', day2),
    ]);
    assert.deepEqual(
      entries.map((e) => [e.lane, e.day, e.records, e.instanceId]),
      [
        ['bulk', '2026-11-24', 1, 'sink-0'],
        ['bulk', '2026-11-25', 2, 'sink-0'],
      ],
    );
    for (const e of entries) {
      assert.match(e.path, /^lane=bulk\/date=2026-11-2[45]\/part-sink-0-\d{13}-[0-9a-f]{8}\.ndjson\.gz$/);
    }
    const stagedFiles = files(dir);
    assert.equal(stagedFiles.length, 2);
    for (const f of stagedFiles)
      assert.match(f, /\/\.part-.*\.ndjson\.gz\.tmp$/, 'only temp files before publish');

    await batch.publish();
    assert.deepEqual(files(dir), entries.map((e) => e.path).sort());
    assert.deepEqual(renamedSeen, files(dir), 'the fault hook runs after the renames');
    const second = entries[1];
    assert.ok(second);
    assert.deepEqual(
      readNdjsonGz(join(dir, second.path)).map((r) => r.id),
      ['b', 'd'],
    );
  });

  test('a record whose payload is not JSON fails the stage with SINK_REJECTED before any file is written', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pf-cold-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const batch = createColdBatch({ coldDir: dir, coldLanes: new Set(['bulk']), instanceId: 'i' });
    await assert.rejects(
      batch.stage([routed('a', 'bulk', day1), { ...routed('bad', 'bulk', day1), payload: '{' }]),
      {
        code: ErrorCodes.SINK_REJECTED,
      },
    );
    await batch.discard();
    assert.deepEqual(files(dir), []);
  });

  test('a cold directory that cannot be made is SINK_FAILED: no retry fixes it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pf-cold-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // a file where the lane directory should be: mkdir fails with ENOTDIR/EEXIST, which no retry fixes
    writeFileSync(join(dir, 'lane=bulk'), 'not a directory');
    const batch = createColdBatch({ coldDir: dir, coldLanes: new Set(['bulk']), instanceId: 'i' });
    await assert.rejects(batch.stage([routed('a', 'bulk', day1)]), {
      code: ErrorCodes.SINK_FAILED,
    });
  });

  test('records of other lanes make no file', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pf-cold-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const batch = createColdBatch({ coldDir: dir, coldLanes: new Set(['bulk']), instanceId: 'i' });
    assert.deepEqual(await batch.stage([routed('c', 'critical', day1)]), []);
    await batch.publish();
    assert.deepEqual(files(dir), []);
  });

  test('discard removes staged and published files', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pf-cold-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const staged = createColdBatch({ coldDir: dir, coldLanes: new Set(['bulk']), instanceId: 'i' });
    await staged.stage([routed('a', 'bulk', day1)]);
    await staged.discard();
    assert.deepEqual(files(dir), []);
    const published = createColdBatch({ coldDir: dir, coldLanes: new Set(['bulk']), instanceId: 'i' });
    await published.stage([routed('a', 'bulk', day1)]);
    await published.publish();
    assert.equal(files(dir).length, 1);
    await published.discard();
    assert.deepEqual(files(dir), []);
  });
});

test('store gate: batches overlap; reconcile waits for running batches and holds back later ones', async () => {
  const gate = createSharedExclusiveGate();
  const events: string[] = [];
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const batch = (name: string, ms: number) =>
    gate.shared(async () => {
      events.push(`${name}:start`);
      await sleep(ms);
      events.push(`${name}:end`);
    });
  const a = batch('a', 30);
  const b = batch('b', 10);
  const reconcile = gate.exclusive(async () => {
    events.push('reconcile:start');
    await sleep(10);
    events.push('reconcile:end');
  });
  const c = batch('c', 1);
  await Promise.all([a, b, reconcile, c]);
  assert.deepEqual(events.slice(0, 2).sort(), ['a:start', 'b:start'], 'a and b overlap');
  assert.ok(events.indexOf('reconcile:start') > events.indexOf('a:end'), 'reconcile waits for a');
  assert.ok(events.indexOf('reconcile:start') > events.indexOf('b:end'), 'and for b');
  assert.ok(events.indexOf('c:start') > events.indexOf('reconcile:end'), 'c waits for reconcile');
});
