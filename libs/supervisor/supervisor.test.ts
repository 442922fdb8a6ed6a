import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { createSupervisor, type ProgramSpec } from './supervisor.ts';

class FakeChild extends EventEmitter {
  static nextPid = 1000;
  readonly pid = FakeChild.nextPid++;
  exitCode: number | null = null;
  signalCode: string | null = null;
  readonly signals: string[] = [];
  /** When false, SIGTERM is ignored (a program stuck in shutdown). */
  obeysSigterm = true;
  kill(signal: string) {
    this.signals.push(signal);
    if (signal === 'SIGKILL' || this.obeysSigterm) this.exit(null, signal);
    return true;
  }
  exit(code: number | null, signal: string | null = null) {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
  }
}

const spec = (name: string): ProgramSpec => ({
  name,
  command: 'node',
  args: [name],
  env: {},
  logFile: `/tmp/${name}.log`,
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function fleet(options: { healthyAfterMs?: number; stopTimeoutMs?: number } = {}) {
  const children = new Map<string, FakeChild[]>();
  const events: string[] = [];
  const supervisor = createSupervisor({
    programs: [spec('a'), spec('b')],
    spawn: (_command, args) => {
      const child = new FakeChild();
      const name = String(args[0]);
      children.set(name, [...(children.get(name) ?? []), child]);
      return child as unknown as ChildProcess;
    },
    initialBackoffMs: 20,
    maxBackoffMs: 80,
    healthyAfterMs: options.healthyAfterMs ?? 10_000,
    stopTimeoutMs: options.stopTimeoutMs ?? 50,
    onEvent: (e) => events.push(`${e.name}:${e.event}`),
  });
  return { supervisor, children, events, last: (name: string) => children.get(name)!.at(-1)! };
}

test('a program that exits on its own is restarted, and only that one', async () => {
  const { supervisor, children, last } = fleet();
  supervisor.start();
  last('a').exit(1);
  await sleep(60);
  assert.equal(children.get('a')!.length, 2);
  assert.equal(children.get('b')!.length, 1);
  const a = supervisor.states().find((s) => s.name === 'a')!;
  assert.equal(a.starts, 2);
  assert.equal(a.unexpectedExits, 1);
  assert.equal(a.lastExit?.code, 1);
  assert.equal(a.pid, last('a').pid);
  await supervisor.stop();
});

test('a crash loop backs off: each young death doubles the delay, up to the cap', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { supervisor, children, last } = fleet();
  supervisor.start();
  for (const delay of [20, 40, 80, 80]) {
    const before = children.get('a')!.length;
    last('a').exit(1);
    t.mock.timers.tick(delay - 1);
    assert.equal(children.get('a')!.length, before, `not restarted before ${delay} ms`);
    t.mock.timers.tick(1);
    assert.equal(children.get('a')!.length, before + 1, `restarted after ${delay} ms`);
  }
  const a = supervisor.states().find((s) => s.name === 'a')!;
  assert.equal(a.starts, 5);
  assert.equal(a.unexpectedExits, 4);
  void supervisor.stop();
});

test('a program that ran long enough restarts after the initial delay again', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { supervisor, children, last } = fleet({ healthyAfterMs: 10_000 });
  supervisor.start();
  last('a').exit(1); // young: the next delay doubles
  t.mock.timers.tick(20);
  assert.equal(children.get('a')!.length, 2);
  t.mock.timers.tick(10_000); // now it counts as healthy
  last('a').exit(1);
  t.mock.timers.tick(20);
  assert.equal(children.get('a')!.length, 3, 'restarted after the initial delay, not the doubled one');
  void supervisor.stop();
});

test('stop() sends SIGTERM, escalates to SIGKILL for a program that ignores it, and restarts nothing', async () => {
  const { supervisor, children, last, events } = fleet();
  supervisor.start();
  last('b').obeysSigterm = false;
  await supervisor.stop();
  assert.deepEqual(last('a').signals, ['SIGTERM']);
  assert.deepEqual(last('b').signals, ['SIGTERM', 'SIGKILL']);
  await sleep(40);
  assert.equal(children.get('a')!.length, 1);
  assert.equal(children.get('b')!.length, 1);
  assert.ok(events.includes('a:stopped') && events.includes('b:stopped'));
  assert.ok(supervisor.states().every((s) => s.pid === null && s.unexpectedExits === 0));
});

test('stop() during a backoff cancels the pending restart', async () => {
  const { supervisor, children, last } = fleet();
  supervisor.start();
  last('a').exit(1);
  await supervisor.stop();
  await sleep(50);
  assert.equal(children.get('a')!.length, 1);
});

test('hold() stops one program and keeps it stopped; release() starts it again at once', async () => {
  const { supervisor, children, last, events } = fleet();
  supervisor.start();
  const first = last('a');
  await supervisor.hold('a');
  assert.deepEqual(first.signals, ['SIGTERM']);
  await sleep(60);
  assert.equal(children.get('a')!.length, 1, 'a held program is not restarted');
  const held = supervisor.states().find((s) => s.name === 'a')!;
  assert.equal(held.held, true);
  assert.equal(held.pid, null);
  assert.equal(held.unexpectedExits, 0, 'an exit that was asked for is not a crash');
  assert.equal(last('b').signals.length, 0, 'the others keep running');

  supervisor.release('a');
  assert.equal(children.get('a')!.length, 2, 'started at once, without a backoff');
  assert.equal(supervisor.states().find((s) => s.name === 'a')!.held, false);
  assert.deepEqual(
    events.filter((e) => e.startsWith('a:')),
    ['a:started', 'a:held', 'a:stopped', 'a:released', 'a:started'],
  );
  await supervisor.stop();
});

test('hold() during a crash backoff cancels the restart; release() of a program not held does nothing', async () => {
  const { supervisor, children, last } = fleet();
  supervisor.start();
  last('a').exit(1);
  await supervisor.hold('a');
  await sleep(60);
  assert.equal(children.get('a')!.length, 1);
  supervisor.release('b');
  assert.equal(children.get('b')!.length, 1);
  await assert.rejects(supervisor.hold('nope'), /no program named nope/);
  await supervisor.stop();
});
