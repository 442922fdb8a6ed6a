import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Ports handed out come in blocks of this many; a caller asks for at most this many. */
export const PORT_BLOCK_SIZE = 8;
// Below Linux's ephemeral range (32768–60999): a port inside it can be taken by any outgoing
// connection (a Kafka, registry or PostgreSQL client) between the check here and the listen().
// Above the stack's own ports (Kafka 19092/19094/19095, registry 18081, PostgreSQL 15432).
const FIRST_PORT = 20_000;
const BLOCKS = Math.floor((32_768 - FIRST_PORT) / PORT_BLOCK_SIZE);
const CLAIMS_DIR = join(tmpdir(), 'patternflow-port-claims');
const claimed = new Set<string>();
let releasedOnExit = false;

/**
 * Returns the first port of a block of `count` consecutive ports (≤ PORT_BLOCK_SIZE) on
 * 127.0.0.1 that nobody listens on and that no other patternflow test, demo or benchmark
 * process on this machine holds. Test files run in parallel processes, and a free-port check
 * alone leaves a window (until the service listens) in which another file's check passes too;
 * the claim, a file created exclusively and named after the block, closes it. Claims are
 * released when this process exits, and a claim whose process is gone is taken over.
 */
export async function reservePorts(count: number): Promise<number> {
  if (!Number.isInteger(count) || count < 1 || count > PORT_BLOCK_SIZE)
    throw new RangeError(`reservePorts: count must be 1-${PORT_BLOCK_SIZE}, got ${count}`);
  mkdirSync(CLAIMS_DIR, { recursive: true });
  // From a random block on, every block once: runs rarely meet, and a free block is found if any is left.
  const start = Math.floor(Math.random() * BLOCKS);
  for (let step = 0; step < BLOCKS; step++) {
    const base = FIRST_PORT + PORT_BLOCK_SIZE * ((start + step) % BLOCKS);
    const claim = join(CLAIMS_DIR, String(base));
    if (!tryClaim(claim)) continue;
    let free = true;
    for (let port = base; port < base + count && free; port++) free = await portIsFree(port);
    if (free) return base;
    release(claim);
  }
  throw new Error(`reservePorts: no free block of ${count} ports found in ${FIRST_PORT}-32767`);
}

function tryClaim(claim: string): boolean {
  if (!link(claim) && !(holderAlive(claim) === false && takeOver(claim))) return false;
  if (!releasedOnExit) {
    process.once('exit', releaseAll);
    releasedOnExit = true;
  }
  claimed.add(claim);
  return true;
}

/** Creates the claim with this pid already in it: a reader never sees it empty. */
function link(claim: string): boolean {
  const draft = `${claim}.${process.pid}.draft`;
  writeFileSync(draft, String(process.pid));
  try {
    linkSync(draft, claim);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(draft, { force: true });
  }
}

/**
 * Replaces the claim of a process that has exited. One process at a time (a directory made
 * exclusively is the lock), or two could each remove the other's fresh claim; a lock left by
 * a killed process is broken after a while.
 */
function takeOver(claim: string): boolean {
  const lock = join(CLAIMS_DIR, 'takeover.lock');
  try {
    mkdirSync(lock);
  } catch {
    try {
      if (Date.now() - statSync(lock).mtimeMs > 10_000) rmSync(lock, { recursive: true, force: true });
    } catch {}
    return false;
  }
  try {
    if (holderAlive(claim) !== false) return false;
    rmSync(claim, { force: true });
    return link(claim);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** undefined: the claim is gone, or unreadable (left alone). */
function holderAlive(claim: string): boolean | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(claim, 'utf8'));
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive but someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function release(claim: string): void {
  claimed.delete(claim);
  rmSync(claim, { force: true });
}

function releaseAll(): void {
  for (const claim of claimed) rmSync(claim, { force: true });
  claimed.clear();
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
