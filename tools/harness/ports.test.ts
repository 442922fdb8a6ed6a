import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PORTS_MODULE = fileURLToPath(new URL('./ports.ts', import.meta.url));
// Each case gets its own claims directory (through TMPDIR), so no other test run is touched.
const scratch = mkdtempSync(join(tmpdir(), 'ports-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `script` in a fresh node process with `reservePorts` imported, printing JSON on stdout. */
function inChild(tmp: string, script: string): Promise<{ code: number | null; out: string; err: string }> {
  const source = `import { reservePorts, PORT_BLOCK_SIZE } from ${JSON.stringify(PORTS_MODULE)};\n${script}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

const claimsIn = (tmp: string) => readdirSync(join(tmp, 'patternflow-port-claims'));

test('processes reserving at once never get the same block; blocks are aligned, below the ephemeral range', async () => {
  const tmp = mkdtempSync(join(scratch, 'race-'));
  // 4 × 100 picks from ~1 600 blocks: without the claims, about 50 pairs would collide.
  const runs = await Promise.all(
    [0, 1, 2, 3].map(() =>
      inChild(
        tmp,
        // Each holds its blocks until all four are done: a block given back may be handed out again.
        `const bases = []; for (let i = 0; i < 100; i++) bases.push(await reservePorts(PORT_BLOCK_SIZE));
         const { readdirSync, writeFileSync } = await import('node:fs');
         writeFileSync(${JSON.stringify(`${tmp}/done.`)} + process.pid, '');
         while (readdirSync(${JSON.stringify(tmp)}).filter((f) => f.startsWith('done.')).length < 4)
           await new Promise((resolve) => setTimeout(resolve, 20));
         console.log(JSON.stringify(bases));`,
      ),
    ),
  );
  const bases = runs.flatMap((run) => {
    assert.equal(run.code, 0, run.err);
    return JSON.parse(run.out) as number[];
  });
  assert.equal(bases.length, 400);
  assert.equal(new Set(bases).size, 400);
  for (const base of bases) {
    assert.ok(base >= 20_000 && base + 8 <= 32_768, `${base} out of range`);
    assert.equal((base - 20_000) % 8, 0);
  }
  // Released when each process exited.
  assert.deepEqual(claimsIn(tmp), []);
});

test("a block someone listens on is not handed out; a dead process's claim is taken over", async () => {
  const tmp = mkdtempSync(join(scratch, 'stale-'));
  const dir = join(tmp, 'patternflow-port-claims');
  mkdirSync(dir);
  const dead = await inChild(tmp, 'console.log(process.pid);');
  const inUse = 20_000 + 8 * 5;
  const stale = 20_000 + 8 * 9;
  // Every block is held by this (live) test process, but one that is unclaimed with a port in
  // use and one claimed by a process that has exited: only the latter may be handed out.
  for (let base = 20_000; base + 8 <= 32_768; base += 8)
    if (base !== inUse)
      writeFileSync(join(dir, String(base)), base === stale ? dead.out.trim() : String(process.pid));
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(inUse + 3, '127.0.0.1', resolve));
  try {
    const run = await inChild(tmp, 'console.log(await reservePorts(4));');
    assert.equal(run.code, 0, run.err);
    assert.equal(Number(run.out), stale);
  } finally {
    await new Promise((resolve) => listener.close(resolve));
  }
});

test('blocks held by a live process are skipped until none is left, then a clear error', async () => {
  const tmp = mkdtempSync(join(scratch, 'full-'));
  const dir = join(tmp, 'patternflow-port-claims');
  mkdirSync(dir);
  for (let base = 20_000; base + 8 <= 32_768; base += 8)
    writeFileSync(join(dir, String(base)), String(process.pid));
  const run = await inChild(tmp, 'await reservePorts(1);');
  assert.notEqual(run.code, 0);
  assert.match(run.err, /no free block of 1 ports found in 20000-32767/);
});

test('a count the blocks cannot hold is refused', async () => {
  const tmp = mkdtempSync(join(scratch, 'count-'));
  const run = await inChild(tmp, 'await reservePorts(9);');
  assert.notEqual(run.code, 0);
  assert.match(run.err, /count must be 1-8, got 9/);
});
