import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** One supervised program. */
export interface ProgramSpec {
  name: string;
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Where its stdout and stderr go (appended). */
  logFile: string;
  cwd?: string;
}

export interface ProgramState {
  name: string;
  pid: number | null;
  /** How many times it was started. */
  starts: number;
  /** Exits that the supervisor did not ask for. */
  unexpectedExits: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  /** When the next restart is due, while it waits in backoff. */
  restartAt: string | null;
  /** Stopped on request (hold) and not restarted until released. */
  held: boolean;
}

export interface SupervisorOptions {
  programs: readonly ProgramSpec[];
  /** How a program is started; by default a child process whose output is appended to its log file. */
  spawn?: (
    command: string,
    args: readonly string[],
    options: SpawnOptions & { logFile: string },
  ) => ChildProcess;
  /** First restart delay; doubles on each exit that follows a short run, up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run at least this long counts as healthy: the next exit restarts after initialBackoffMs again. */
  healthyAfterMs?: number;
  /** How long stop() waits for SIGTERM to work before SIGKILL. */
  stopTimeoutMs?: number;
  onEvent?: (event: {
    name: string;
    event: 'started' | 'exited' | 'restarting' | 'stopped' | 'held' | 'released';
    detail: object;
  }) => void;
  now?: () => number;
}

export interface Supervisor {
  start(): void;
  states(): ProgramState[];
  /** SIGTERM to every program (SIGKILL after stopTimeoutMs); no restarts after this. */
  stop(): Promise<void>;
  /**
   * Stops one program as stop() does and keeps it stopped until release(): an operator's
   * pause of one stage (a replay resets its group's offsets, which Kafka refuses while the
   * group has members). Resolves once the program has exited.
   */
  hold(name: string): Promise<void>;
  /** Starts a held program again, at once (no backoff: its exit was asked for). */
  release(name: string): void;
}

interface Slot {
  spec: ProgramSpec;
  child: ChildProcess | null;
  state: ProgramState;
  startedAt: number;
  backoffMs: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Keeps programs running as an orchestrator would: an exit that was not asked for is
 * restarted after a backoff that doubles while the program keeps dying young (a crash loop
 * costs little and does not spin) and resets once it has run for a while.
 */
export function createSupervisor(options: SupervisorOptions): Supervisor {
  const initialBackoffMs = options.initialBackoffMs ?? 1_000;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const healthyAfterMs = options.healthyAfterMs ?? 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 45_000;
  const now = options.now ?? Date.now;
  const emit = options.onEvent ?? (() => {});
  const spawnProgram = options.spawn ?? spawnWithLogFile;
  let stopping = false;

  const slots: Slot[] = options.programs.map((spec) => ({
    spec,
    child: null,
    state: {
      name: spec.name,
      pid: null,
      starts: 0,
      unexpectedExits: 0,
      lastExit: null,
      restartAt: null,
      held: false,
    },
    startedAt: 0,
    backoffMs: initialBackoffMs,
    timer: null,
  }));

  const launch = (slot: Slot) => {
    slot.timer = null;
    slot.state.restartAt = null;
    if (stopping || slot.state.held) return;
    const { spec } = slot;
    const child = spawnProgram(spec.command, spec.args, {
      env: { ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      logFile: spec.logFile,
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
    });
    slot.child = child;
    slot.startedAt = now();
    slot.state.starts += 1;
    slot.state.pid = child.pid ?? null;
    emit({ name: spec.name, event: 'started', detail: { pid: child.pid, starts: slot.state.starts } });
    child.once('exit', (code, signal) => {
      slot.child = null;
      slot.state.pid = null;
      slot.state.lastExit = { code, signal, at: new Date(now()).toISOString() };
      if (stopping || slot.state.held) {
        emit({ name: spec.name, event: 'stopped', detail: { code, signal } });
        return;
      }
      slot.state.unexpectedExits += 1;
      const ranFor = now() - slot.startedAt;
      slot.backoffMs = ranFor >= healthyAfterMs ? initialBackoffMs : slot.backoffMs;
      const delay = slot.backoffMs;
      slot.backoffMs = Math.min(maxBackoffMs, slot.backoffMs * 2);
      slot.state.restartAt = new Date(now() + delay).toISOString();
      emit({ name: spec.name, event: 'exited', detail: { code, signal, ranForMs: ranFor } });
      emit({ name: spec.name, event: 'restarting', detail: { inMs: delay } });
      slot.timer = setTimeout(() => launch(slot), delay);
    });
  };

  return {
    start() {
      for (const slot of slots) launch(slot);
    },
    states: () => slots.map((slot) => ({ ...slot.state })),
    async stop() {
      stopping = true;
      await Promise.all(slots.map(terminate));
    },
    async hold(name) {
      const slot = slotNamed(name);
      if (!slot.state.held) {
        slot.state.held = true;
        emit({ name, event: 'held', detail: {} });
      }
      await terminate(slot);
    },
    release(name) {
      const slot = slotNamed(name);
      if (!slot.state.held) return;
      slot.state.held = false;
      emit({ name, event: 'released', detail: {} });
      if (!slot.child && !slot.timer) launch(slot);
    },
  };

  function slotNamed(name: string): Slot {
    const slot = slots.find((candidate) => candidate.spec.name === name);
    if (!slot) throw new Error(`no program named ${name}`);
    return slot;
  }

  /** Cancels a pending restart, then SIGTERM (SIGKILL after stopTimeoutMs) and waits for the exit. */
  async function terminate(slot: Slot): Promise<void> {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.state.restartAt = null;
    const child = slot.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    await exited;
    clearTimeout(killer);
  }
}

function spawnWithLogFile(
  command: string,
  args: readonly string[],
  { logFile, ...options }: SpawnOptions & { logFile: string },
): ChildProcess {
  const child = spawn(command, args, options);
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return child;
}
