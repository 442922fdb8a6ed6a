import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { activeHolds, runDirPaths, writeRunState } from '@patternflow/supervisor';
import type { Admin } from 'kafkajs';
import { CliError } from '../exit.ts';
import { quiesceStage, supervisesStage } from './quiesce.ts';

/** A run folder whose supervisor is this process, running `namespace`. */
function runFolder(t: { after(fn: () => void): void }, namespace: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'quiesce-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(runDirPaths(dir).pid, String(process.pid));
  const service = { pid: 1, starts: 1, unexpectedExits: 0, lastExit: null, restartAt: null, held: false };
  writeRunState(dir, {
    supervisorPid: process.pid,
    startedAt: '',
    topicNamespace: namespace,
    services: [{ ...service, name: 'sink', httpPort: 1, logFile: '' }],
  });
  return dir;
}

/** An admin whose group has `members[i]` members at the i-th look (the last one repeats). */
function admin(members: number[]): Admin & { looks: number } {
  const fake = {
    looks: 0,
    async describeGroups() {
      const count = members[Math.min(fake.looks, members.length - 1)] as number;
      fake.looks += 1;
      return { groups: [{ members: Array.from({ length: count }, () => ({})) }] };
    },
  };
  return fake as unknown as Admin & { looks: number };
}

const quiet = { out: () => {}, err: () => {} };
const base = {
  groupId: 'ns.patternflow.sink',
  stage: 'sink' as const,
  namespace: 'ns',
  reason: 'replay',
  io: quiet,
};

test('under make run of the same pipeline: the stage is held until the group is empty, then released', async (t) => {
  const runDir = runFolder(t, 'ns');
  assert.equal(supervisesStage(runDir, 'ns', 'sink'), true);
  assert.equal(supervisesStage(runDir, 'other', 'sink'), false, 'another pipeline is not ours to stop');
  assert.equal(supervisesStage(runDir, 'ns', 'ingestor'), false);
  const group = admin([1, 1, 0]);
  const quiesced = await quiesceStage({
    ...base,
    admin: group,
    runDir,
    waitMs: 10_000,
    signal: new AbortController().signal,
  });
  assert.equal(group.looks, 3);
  assert.deepEqual(
    activeHolds(runDir).map((hold) => [hold.program, hold.holderPid, hold.reason]),
    [['sink', process.pid, 'replay']],
  );
  quiesced.release();
  assert.deepEqual(activeHolds(runDir), []);
});

test('a group that does not empty in time is refused, and the hold is released', async (t) => {
  const runDir = runFolder(t, 'ns');
  await assert.rejects(
    quiesceStage({ ...base, admin: admin([1]), runDir, waitMs: 600, signal: new AbortController().signal }),
    (error: unknown) =>
      error instanceof CliError && error.exitCode === 4 && /still has 1 member/.test(error.message),
  );
  assert.deepEqual(activeHolds(runDir), []);
});

test('without a supervisor of this pipeline nothing is held: it only waits', async (t) => {
  const runDir = runFolder(t, 'someone-else');
  const quiesced = await quiesceStage({
    ...base,
    admin: admin([2, 0]),
    runDir,
    waitMs: 10_000,
    signal: new AbortController().signal,
  });
  assert.deepEqual(activeHolds(runDir), []);
  quiesced.release();
});
