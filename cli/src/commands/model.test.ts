/** `patternflow model list` through the CLI frame, on private re-signed copies of the store. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { copyModelStore, type TestModelStore } from '@patternflow/harness';
import { ExitCodes } from '../exit.ts';
import { run } from '../main.ts';
import type { Io } from '../output.ts';

const copies: TestModelStore[] = [];
after(() => {
  for (const copy of copies) copy.remove();
});

function capture(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

async function modelList(copy: TestModelStore, extra: string[] = [], env: Record<string, string> = {}) {
  const io = capture();
  const code = await run(['model', 'list', ...extra], {
    io,
    env: { PF_MODELS_DIR: copy.dir, PF_MODEL_PUBLIC_KEY: copy.key.publicKeyPath, ...env },
    signal: new AbortController().signal,
  });
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

interface Listed {
  versions: {
    name: string;
    version: string;
    verified: boolean;
    serves: string | null;
    problem: { code: string } | null;
  }[];
  serving: Record<string, string>;
  taggerWouldStart: boolean;
  publicKey: { dev: boolean };
}

test('a verified store: every version yes, the serving one per source, exit 0', async () => {
  const copy = copyModelStore({ names: ['payments-fraud-rf', 'auth-ato-rf'] });
  copies.push(copy);
  copy.addVersion('payments-fraud-rf', '1.0.0', '1.1.0');
  const text = await modelList(copy);
  assert.equal(text.code, ExitCodes.OK, text.err);
  assert.match(text.out, /^payments-fraud-rf\s+1\.0\.0\s+payments\s+69091c31b24d\s+yes\s*$/m);
  assert.match(text.out, /^payments-fraud-rf\s+1\.1\.0\s+payments\s+69091c31b24d\s+yes\s+payments$/m);
  assert.doesNotMatch(text.out, /DEV key/, 'a test key is not the DEV key');

  const json = await modelList(copy, ['--json']);
  const listed = JSON.parse(json.out) as Listed;
  assert.deepEqual(listed.serving, { auth: 'auth-ato-rf@1.0.0', payments: 'payments-fraud-rf@1.1.0' });
  assert.equal(listed.taggerWouldStart, true);
  assert.equal(listed.publicKey.dev, false);

  const pinned = JSON.parse(
    (await modelList(copy, ['--json'], { PF_MODEL_VERSIONS: 'payments-fraud-rf@1.0.0' })).out,
  );
  assert.equal((pinned as Listed).serving.payments, 'payments-fraud-rf@1.0.0');
});

test('a tampered version is "no" with its reason and exit 1; as the serving version it says the tagger would not start', async () => {
  const copy = copyModelStore({ names: ['payments-fraud-rf'] });
  copies.push(copy);
  copy.addVersion('payments-fraud-rf', '1.0.0', '0.9.0');
  const onnx = copy.flipModelByte('payments-fraud-rf', '0.9.0');
  const old = await modelList(copy);
  assert.equal(old.code, ExitCodes.FAILED);
  assert.match(old.out, /^payments-fraud-rf\s+0\.9\.0\s+payments\s+\S+\s+no \(PF_MODEL_INTEGRITY\)\s*$/m);
  assert.ok(old.out.includes(`payments-fraud-rf@0.9.0: model ${onnx} does not match its signed manifest`));
  assert.doesNotMatch(old.out, /would not start/);

  copy.addVersion('payments-fraud-rf', '1.0.0', '1.1.0');
  copy.sign(
    'payments-fraud-rf',
    '1.1.0',
    (await import('node:crypto')).generateKeyPairSync('ed25519').privateKey,
  );
  const json = JSON.parse((await modelList(copy, ['--json'])).out) as Listed;
  const newest = json.versions.find((v) => v.version === '1.1.0')!;
  assert.equal(newest.verified, false);
  assert.equal(newest.problem?.code, 'PF_MODEL_SIGNATURE');
  assert.equal(newest.serves, 'payments');
  assert.equal(json.taggerWouldStart, false);
  const text = await modelList(copy);
  assert.match(text.out, /the tagger would not start: payments-fraud-rf@1\.1\.0 is the version of payments/);
});

test('the repo store with the default DEV key: verified, and the DEV key is named as such', async () => {
  const io = capture();
  const code = await run(['model', 'list'], { io, env: {}, signal: new AbortController().signal });
  assert.equal(code, ExitCodes.OK, io.stderr.join('\n'));
  assert.match(io.stdout.join('\n'), /the repo's DEV key: anyone can sign for it/);
});

async function modelCommand(copy: TestModelStore, args: string[]) {
  const io = capture();
  const code = await run(['model', ...args], {
    io,
    // No broker listens here: these refusals must come before any Kafka call.
    env: {
      PF_MODELS_DIR: copy.dir,
      PF_MODEL_PUBLIC_KEY: copy.key.publicKeyPath,
      PF_KAFKA_BROKERS: '127.0.0.1:1',
    },
    signal: new AbortController().signal,
  });
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

test('deployment commands check the version in the local store and their arguments before touching Kafka', async () => {
  const copy = copyModelStore({ names: ['payments-fraud-rf'] });
  copies.push(copy);
  copy.addVersion('payments-fraud-rf', '1.0.0', '1.1.0');
  copy.flipModelByte('payments-fraud-rf', '1.1.0');
  const missing = await modelCommand(copy, ['promote', 'payments-fraud-rf', '9.9.9', '--reason', 'r']);
  assert.equal(missing.code, ExitCodes.USAGE);
  assert.match(
    missing.err,
    /payments-fraud-rf@9\.9\.9 is not in the store .* \(versions of payments-fraud-rf: 1\.0\.0, 1\.1\.0\)/,
  );
  const damaged = await modelCommand(copy, ['shadow', 'payments-fraud-rf', '1.1.0', '--reason', 'r']);
  assert.equal(damaged.code, ExitCodes.REFUSED);
  assert.match(damaged.err, /refused: payments-fraud-rf@1\.1\.0 does not verify \(PF_MODEL_INTEGRITY/);
  const share = await modelCommand(copy, [
    'canary',
    'payments-fraud-rf',
    '1.0.0',
    '--share',
    '1.5',
    '--reason',
    'r',
  ]);
  assert.equal(share.code, ExitCodes.USAGE);
  assert.match(share.err, /--share must be a number in \(0, 1\]/);
  const noReason = await modelCommand(copy, ['rollback', 'payments']);
  assert.equal(noReason.code, ExitCodes.USAGE);
  assert.match(noReason.err, /--reason/);
});

test('model retrain refuses an unknown source, a bad option or schema, and a missing reason before any Kafka or PostgreSQL call', async () => {
  const copy = copyModelStore({ names: ['payments-fraud-rf'] });
  copies.push(copy);
  const unknown = await modelCommand(copy, ['retrain', 'telemetry', '--reason', 'r']);
  assert.equal(unknown.code, ExitCodes.USAGE);
  assert.match(unknown.err, /unknown source "telemetry"/);
  const share = await modelCommand(copy, ['retrain', 'payments', '--reason', 'r', '--held-out-share', '1']);
  assert.equal(share.code, ExitCodes.USAGE);
  assert.match(share.err, /--held-out-share must be a number above 0 and below 1/);
  const weight = await modelCommand(copy, [
    'retrain',
    'payments',
    '--reason',
    'r',
    '--feedback-weight',
    '-2',
  ]);
  assert.equal(weight.code, ExitCodes.USAGE);
  assert.match(weight.err, /--feedback-weight must be a number above 0/);
  const future = await modelCommand(copy, [
    'retrain',
    'payments',
    '--reason',
    'r',
    '--since',
    '2999-01-01T00:00:00Z',
  ]);
  assert.equal(future.code, ExitCodes.USAGE);
  assert.match(future.err, /is in the future/);
  const noReason = await modelCommand(copy, ['retrain', 'payments']);
  assert.equal(noReason.code, ExitCodes.USAGE);
  assert.match(noReason.err, /--reason/);
  const io = capture();
  const schema = await run(['model', 'retrain', 'payments', '--reason', 'r'], {
    io,
    env: {
      PF_MODELS_DIR: copy.dir,
      PF_MODEL_PUBLIC_KEY: copy.key.publicKeyPath,
      PF_KAFKA_BROKERS: '127.0.0.1:1',
      PF_PG_SCHEMA: 'x; DROP TABLE patterns',
    },
    signal: new AbortController().signal,
  });
  assert.notEqual(schema, ExitCodes.OK);
  assert.match(io.stderr.join('\n'), /PF_PG_SCHEMA must be a plain lower-case SQL identifier/);
});
