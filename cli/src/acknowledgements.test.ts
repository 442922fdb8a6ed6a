import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AckView, type AckWait, waitForAcknowledgements } from './acknowledgements.ts';

interface View extends AckView {
  version: string | null;
}

/** A wait whose replicas say, round after round, what `rounds` lists (the last round repeats). */
function waitOn(rounds: View[][], overrides: Partial<AckWait<View>> = {}) {
  const seen = { rounds: 0, stopped: 0 };
  const wait: AckWait<View> = {
    follower: {
      caughtUp: Promise.resolve(),
      stop: async () => {
        seen.stopped++;
      },
    },
    views: async () => rounds[Math.min(seen.rounds++, rounds.length - 1)] ?? [],
    serving: (view) => view.version,
    replicas: 'router',
    noneRunning: 'no router replica runs',
    timeoutMs: 60_000,
    pollMs: 1,
    signal: new AbortController().signal,
    ...overrides,
  };
  return { wait, seen };
}

const pending = (replica: string, version: string | null): View => ({ replica, status: 'pending', version });
const inForce = (replica: string): View => ({ replica, status: 'in-force', version: 'v2' });

test('waits round after round until every running replica has the change in force', async () => {
  const { wait, seen } = waitOn([
    [pending('r1', 'v1'), inForce('r2')],
    [inForce('r1'), inForce('r2')],
  ]);
  const outcome = await waitForAcknowledgements(wait);
  assert.equal(outcome.result, 'in-force');
  assert.deepEqual(
    outcome.replicas.map((v) => v.replica),
    ['r1', 'r2'],
  );
  assert.match(outcome.text, /^in force on all 2 router replica\(s\) after \d+\.\d s: r1, r2$/);
  assert.equal(seen.rounds, 2);
  assert.equal(seen.stopped, 1);
});

test('one replica that refuses ends the wait, with its reason', async () => {
  const { wait } = waitOn([
    [
      inForce('r1'),
      { replica: 'r2', status: 'rejected', version: 'v1', detail: 'bad lane' },
      pending('r3', 'v1'),
    ],
  ]);
  const outcome = await waitForAcknowledgements(wait);
  assert.equal(outcome.result, 'rejected');
  assert.equal(outcome.text, 'refused by r2 (bad lane)');
});

test('no replica running is in force at once, with its own text', async () => {
  const { wait } = waitOn([[]]);
  const outcome = await waitForAcknowledgements(wait);
  assert.deepEqual(outcome, { result: 'in-force', replicas: [], text: 'no router replica runs' });
});

test('the time running out names the replicas still pending and what they serve', async () => {
  const { wait, seen } = waitOn([[pending('r1', 'v1'), inForce('r2'), pending('r3', null)]], {
    timeoutMs: 20,
  });
  const outcome = await waitForAcknowledgements(wait);
  assert.equal(outcome.result, 'timeout');
  assert.match(outcome.text, /^not acknowledged after \d+\.\d s by r1 \(on v1\), r3 \(on unknown\)$/);
  assert.ok(seen.rounds > 1, 'it asked again before giving up');
  assert.equal(seen.stopped, 1);
});

test('an aborted command stops waiting; the follower stops even when reading fails', async () => {
  const controller = new AbortController();
  controller.abort();
  const aborted = waitOn([[pending('r1', 'v1')]], { signal: controller.signal });
  assert.equal((await waitForAcknowledgements(aborted.wait)).result, 'timeout');
  assert.equal(aborted.seen.rounds, 1);

  const failing = waitOn([], {
    views: async () => {
      throw new Error('broker gone');
    },
  });
  await assert.rejects(waitForAcknowledgements(failing.wait), /broker gone/);
  assert.equal(failing.seen.stopped, 1);
});
