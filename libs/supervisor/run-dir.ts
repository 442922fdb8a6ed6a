/**
 * The folder of a supervised pipeline (`make run`, scripts/run.ts): the supervisor's pid,
 * its state, the programs' logs, and the holds operators ask for. scripts/run.ts writes it;
 * the CLI reads it and asks for holds. Plain files, because the two sides are separate
 * processes; a hold whose holder has died is void, so a crashed CLI cannot keep a stage down.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProgramState } from './supervisor.ts';

export interface RunDirPaths {
  readonly pid: string;
  readonly state: string;
  readonly log: string;
  readonly logs: string;
  readonly holds: string;
}

export function runDirPaths(runDir: string): RunDirPaths {
  return {
    pid: join(runDir, 'supervisor.pid'),
    state: join(runDir, 'state.json'),
    log: join(runDir, 'supervisor.log'),
    logs: join(runDir, 'logs'),
    holds: join(runDir, 'holds'),
  };
}

/** What the supervisor writes to state.json every second. */
export interface RunState {
  supervisorPid: number;
  startedAt: string;
  /** PF_TOPIC_NAMESPACE of the supervised services: which pipeline this folder runs. */
  topicNamespace: string;
  services: (ProgramState & { httpPort: number; logFile: string })[];
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of the supervisor running from this folder, or undefined when none runs. */
export function runningSupervisorPid(runDir: string): number | undefined {
  const { pid: pidFile } = runDirPaths(runDir);
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return isProcessAlive(pid) ? pid : undefined;
}

export function readRunState(runDir: string): RunState | undefined {
  const { state } = runDirPaths(runDir);
  if (!existsSync(state)) return undefined;
  try {
    return JSON.parse(readFileSync(state, 'utf8')) as RunState;
  } catch {
    // Written by rename, so a torn read is not expected; a damaged file reads as no state.
    return undefined;
  }
}

export function writeRunState(runDir: string, state: RunState): void {
  const { state: file } = runDirPaths(runDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${file}.tmp`, file);
}

/** An operator's request that the supervisor keep one program stopped. */
export interface HoldRequest {
  program: string;
  /** The process that asked; the hold ends when it does. */
  holderPid: number;
  /** Shown by `make run-status` and `patternflow status`. */
  reason: string;
  since: string;
}

const holdFile = (runDir: string, program: string) => join(runDirPaths(runDir).holds, `${program}.json`);

function readHold(file: string): HoldRequest | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as HoldRequest;
  } catch {
    return undefined;
  }
}

/**
 * Asks the supervisor to stop `program` and keep it stopped (it checks every second).
 * Throws when another live process holds it already: two operators must not interleave.
 */
export function requestHold(runDir: string, request: HoldRequest): void {
  const file = holdFile(runDir, request.program);
  const current = readHold(file);
  if (current && current.holderPid !== request.holderPid && isProcessAlive(current.holderPid)) {
    throw new Error(
      `${request.program} is already held by pid ${current.holderPid} (${current.reason}) since ${current.since}`,
    );
  }
  mkdirSync(runDirPaths(runDir).holds, { recursive: true });
  writeFileSync(`${file}.${process.pid}.tmp`, JSON.stringify(request));
  renameSync(`${file}.${process.pid}.tmp`, file);
}

/** Ends a hold this holder asked for; someone else's hold is left alone. */
export function releaseHold(runDir: string, program: string, holderPid: number): void {
  const file = holdFile(runDir, program);
  if (readHold(file)?.holderPid === holderPid) rmSync(file, { force: true });
}

/** The holds in force; those whose holder has died are removed on the way. */
export function activeHolds(runDir: string): HoldRequest[] {
  const dir = runDirPaths(runDir).holds;
  if (!existsSync(dir)) return [];
  const holds: HoldRequest[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    const file = join(dir, name);
    const hold = readHold(file);
    if (hold && isProcessAlive(hold.holderPid)) holds.push(hold);
    else rmSync(file, { force: true });
  }
  return holds;
}
