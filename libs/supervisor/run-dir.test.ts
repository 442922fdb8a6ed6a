import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  activeHolds,
  readRunState,
  releaseHold,
  requestHold,
  runDirPaths,
  runningSupervisorPid,
  writeRunState,
} from './run-dir.ts';

function tempRunDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'run-dir-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(child.stdout);
}

const hold = (program: string, holderPid: number) => ({
  program,
  holderPid,
  reason: 'replay',
  since: new Date(0).toISOString(),
});

test('a hold is in force while its holder lives, and released only by its holder', (t) => {
  const dir = tempRunDir(t);
  requestHold(dir, hold('sink', process.pid));
  assert.deepEqual(
    activeHolds(dir).map((h) => h.program),
    ['sink'],
  );
  releaseHold(dir, 'sink', process.pid + 1);
  assert.equal(activeHolds(dir).length, 1, "someone else's release leaves it");
  releaseHold(dir, 'sink', process.pid);
  assert.equal(activeHolds(dir).length, 0);
});

test("a dead holder's hold is void and removed; a live holder's hold refuses a second holder", (t) => {
  const dir = tempRunDir(t);
  requestHold(dir, hold('sink', deadPid()));
  assert.equal(activeHolds(dir).length, 0, 'a crashed CLI does not keep the stage down');
  requestHold(dir, hold('sink', process.pid));
  assert.throws(() => requestHold(dir, hold('sink', process.ppid)), /already held by pid/);
  requestHold(dir, hold('sink', process.pid));
  assert.equal(activeHolds(dir)[0]?.holderPid, process.pid, 'the holder may renew its own hold');
});

test('the supervisor pid counts only while that process lives; state round-trips', (t) => {
  const dir = tempRunDir(t);
  assert.equal(runningSupervisorPid(dir), undefined);
  writeFileSync(runDirPaths(dir).pid, String(deadPid()));
  assert.equal(runningSupervisorPid(dir), undefined);
  writeFileSync(runDirPaths(dir).pid, String(process.pid));
  assert.equal(runningSupervisorPid(dir), process.pid);
  assert.equal(readRunState(dir), undefined);
  const state = { supervisorPid: process.pid, startedAt: 'now', topicNamespace: 'ns', services: [] };
  writeRunState(dir, state);
  assert.deepEqual(readRunState(dir), state);
});
