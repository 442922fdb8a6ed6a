import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { copyModelStore, type TestModelStore } from '@patternflow/harness';
import {
  chooseServingVersions,
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  keyIdOf,
  listModelVersions,
  parseVersionPins,
  readPrivateKey,
  readPublicKey,
  STORE_FILES,
  type StoreEntry,
  verifyModelVersion,
} from './index.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const NAME = 'payments-fraud-rf';
const copies: TestModelStore[] = [];
after(() => {
  for (const copy of copies) copy.remove();
});

function fresh(): TestModelStore {
  const copy = copyModelStore({ names: [NAME] });
  copies.push(copy);
  return copy;
}

/** Asserts `verifyModelVersion` refuses with `code`, the message naming `file` and matching `reason`. */
async function refused(copy: TestModelStore, version: string, code: string, file: string, reason: RegExp) {
  await assert.rejects(verifyModelVersion(copy.dir, NAME, version, copy.key.publicKey), (err: unknown) => {
    assert.ok(err instanceof PipelineError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.details.file, file);
    assert.ok(err.message.includes(file), `${err.message} names ${file}`);
    assert.match(err.message, reason);
    return true;
  });
  const entry = (await listModelVersions(copy.dir, copy.key.publicKey)).find((e) => e.version === version);
  assert.equal(entry?.verified, false);
  assert.equal(entry?.problem?.code, code);
}

describe('signature and integrity', () => {
  test('a signed, untouched version verifies and hands back the bytes it hashed', async () => {
    const copy = fresh();
    const v = await verifyModelVersion(copy.dir, NAME, '1.0.0', copy.key.publicKey);
    assert.equal(v.manifest.name, NAME);
    assert.deepEqual(v.modelBytes, readFileSync(join(copy.versionDir(NAME, '1.0.0'), STORE_FILES.model)));
  });

  test('one flipped byte of model.onnx: PF_MODEL_INTEGRITY with both hashes', async () => {
    const copy = fresh();
    const onnx = copy.flipModelByte(NAME, '1.0.0');
    await refused(
      copy,
      '1.0.0',
      ErrorCodes.MODEL_INTEGRITY,
      onnx,
      /does not match its signed manifest: sha256 [0-9a-f]{64}/,
    );
  });

  test('one changed byte of manifest.json (a threshold): PF_MODEL_SIGNATURE', async () => {
    const copy = fresh();
    const path = join(copy.versionDir(NAME, '1.0.0'), STORE_FILES.manifest);
    const text = readFileSync(path, 'utf8');
    assert.ok(text.includes('"fraud": 0.37'));
    writeFileSync(path, text.replace('"fraud": 0.37', '"fraud": 0.97'));
    const sig = join(copy.versionDir(NAME, '1.0.0'), STORE_FILES.signature);
    await refused(copy, '1.0.0', ErrorCodes.MODEL_SIGNATURE, sig, /manifest changed after signing/);
  });

  test('a signature made with another key: PF_MODEL_SIGNATURE naming both keys', async () => {
    const copy = fresh();
    const other = generateKeyPairSync('ed25519').privateKey;
    copy.sign(NAME, '1.0.0', other);
    const sig = join(copy.versionDir(NAME, '1.0.0'), STORE_FILES.signature);
    await refused(
      copy,
      '1.0.0',
      ErrorCodes.MODEL_SIGNATURE,
      sig,
      new RegExp(`signed by key ${keyIdOf(other)}, the trusted public key is ${keyIdOf(copy.key.publicKey)}`),
    );
  });

  test('no manifest.sig: PF_MODEL_SIGNATURE, not signed', async () => {
    const copy = fresh();
    const sig = join(copy.versionDir(NAME, '1.0.0'), STORE_FILES.signature);
    rmSync(sig);
    await refused(copy, '1.0.0', ErrorCodes.MODEL_SIGNATURE, sig, /missing: the manifest is not signed/);
  });

  test('a damaged signature document: PF_MODEL_SIGNATURE', async () => {
    const copy = fresh();
    const sig = join(copy.versionDir(NAME, '1.0.0'), STORE_FILES.signature);
    writeFileSync(sig, '{"algorithm":"ed25519","signature":"AAAA"}');
    await refused(copy, '1.0.0', ErrorCodes.MODEL_SIGNATURE, sig, /64 bytes of base64/);
  });

  test('a signed version copied under another version directory: PF_MODEL_INTEGRITY', async () => {
    const copy = fresh();
    cpSync(copy.versionDir(NAME, '1.0.0'), copy.versionDir(NAME, '2.0.0'), { recursive: true });
    const manifest = join(copy.versionDir(NAME, '2.0.0'), STORE_FILES.manifest);
    await refused(
      copy,
      '2.0.0',
      ErrorCodes.MODEL_INTEGRITY,
      manifest,
      /is payments-fraud-rf@1\.0\.0, its directory says payments-fraud-rf@2\.0\.0/,
    );
  });
});

describe('store index and serving choice', () => {
  test('listModelVersions: every version with its source and sha256; a stray directory is refused', async () => {
    const copy = fresh();
    copy.addVersion(NAME, '1.0.0', '1.1.0');
    cpSync(copy.versionDir(NAME, '1.0.0'), join(copy.dir, NAME, 'latest'), { recursive: true });
    const entries = await listModelVersions(copy.dir, copy.key.publicKey);
    assert.deepEqual(
      entries.map((e) => [e.version, e.verified]),
      [
        ['1.0.0', true],
        ['1.1.0', true],
        ['latest', false],
      ],
    );
    assert.ok(entries.every((e) => e.source === 'payments' && /^[0-9a-f]{64}$/.test(e.sha256 ?? '')));
    assert.match(entries[2]!.problem!.message, /is not <name>\/<major\.minor\.patch>/);
  });

  test('the repo store verifies with the DEV public key, and the keys/ directory is not a model', async () => {
    const entries = await listModelVersions(DEFAULT_MODEL_STORE, readPublicKey(DEV_PUBLIC_KEY_PATH));
    assert.deepEqual(
      entries.map((e) => `${e.name}@${e.version}:${e.verified}`),
      ['auth-ato-rf@1.0.0:true', 'netflow-attack-rf@1.0.0:true', 'payments-fraud-rf@1.0.0:true'],
    );
  });

  const entry = (name: string, version: string, source: string | undefined): StoreEntry => ({
    name,
    version,
    dir: `/s/${name}/${version}`,
    source,
    sha256: undefined,
    verified: true,
    problem: undefined,
  });

  test('chooseServingVersions: highest semver per source, pins win, an unreadable manifest counts for its model', () => {
    const entries = [
      entry('a', '1.9.0', 'payments'),
      entry('a', '1.10.0', 'payments'),
      entry('b', '0.1.0', 'auth'),
      entry('b', '0.2.0', undefined),
    ];
    const pick = (pins: { name: string; version: string }[] = []) =>
      Object.fromEntries(
        [...chooseServingVersions(entries, pins)].map(([s, e]) => [s, `${e.name}@${e.version}`]),
      );
    assert.deepEqual(pick(), { payments: 'a@1.10.0', auth: 'b@0.2.0' });
    assert.deepEqual(pick([{ name: 'a', version: '1.9.0' }]), { payments: 'a@1.9.0', auth: 'b@0.2.0' });
    assert.throws(
      () => chooseServingVersions([entry('a', '1.0.0', 'payments'), entry('c', '1.0.0', 'payments')]),
      /two highest versions/,
    );
  });

  test('parseVersionPins: name@x.y.z, once per model', () => {
    assert.deepEqual(parseVersionPins(['payments-fraud-rf@1.2.3']), [
      { name: 'payments-fraud-rf', version: '1.2.3' },
    ]);
    for (const bad of [['payments-fraud-rf'], ['@1.0.0'], ['x@1.0'], ['x@1.0.0', 'x@2.0.0']]) {
      assert.throws(
        () => parseVersionPins(bad),
        (err: unknown) => err instanceof PipelineError && err.code === ErrorCodes.CONFIG_INVALID,
        bad.join(','),
      );
    }
  });
});

describe('keys', () => {
  test('the committed DEV private key is the pair of the DEV public key, and is named DEV-ONLY', () => {
    const privatePath = join(REPO, 'training', 'dev-keys', 'DEV-ONLY-model-signing.pem');
    const privateKey = readPrivateKey(privatePath);
    const derived = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' });
    assert.equal(derived, readFileSync(DEV_PUBLIC_KEY_PATH, 'utf8'));
    assert.match(DEV_PUBLIC_KEY_PATH, /DEV-ONLY/);
    assert.match(readFileSync(join(REPO, '.dockerignore'), 'utf8'), /^training\/dev-keys$/m);
  });

  test('no private key anywhere in the model store (it ships in the service image)', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? files(path) : [path];
      });
    for (const file of files(DEFAULT_MODEL_STORE)) {
      assert.doesNotMatch(readFileSync(file).toString('latin1'), /PRIVATE KEY/, file);
    }
  });

  test('a key of another type, or a private key given as the public key, is a clear CONFIG_INVALID', () => {
    const copy = fresh();
    const rsaPath = join(copy.dir, 'rsa.pub.pem');
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    writeFileSync(rsaPath, publicKey.export({ type: 'spki', format: 'pem' }));
    assert.throws(() => readPublicKey(rsaPath), /is a rsa key; model signatures are Ed25519/);
    assert.throws(() => readPublicKey(join(copy.dir, 'missing.pem')), /cannot be read: ENOENT/);
  });
});
