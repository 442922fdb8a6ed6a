/**
 * Private copies of the model store for tests that add, re-sign or damage versions: the
 * repo's models/ is never written. Each copy is signed with a key pair made for it, so a
 * test trusts exactly the key it chose (pass `publicKeyPath` as PF_MODEL_PUBLIC_KEY).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL_STORE, STORE_FILES, signManifest } from '@patternflow/models';

export interface TestKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The public key as a PEM file (what PF_MODEL_PUBLIC_KEY names). */
  readonly publicKeyPath: string;
}

export interface TestModelStore {
  readonly dir: string;
  readonly key: TestKeyPair;
  /** `<dir>/<name>/<version>` */
  versionDir(name: string, version: string): string;
  /** Signs a version's manifest.json as it is now (default: with the store's key). */
  sign(name: string, version: string, privateKey?: KeyObject): void;
  /** Rewrites a version's manifest.json through `edit`, then signs it with the store's key unless `sign` is false. */
  editManifest(
    name: string,
    version: string,
    edit: (manifest: Record<string, unknown>) => void,
    sign?: boolean,
  ): void;
  /** A new version with the same model.onnx as `from` (manifest and golden renamed), signed. */
  addVersion(name: string, from: string, to: string): string;
  /** Flips one bit of a version's model.onnx (in the middle of the file). */
  flipModelByte(name: string, version: string): string;
  remove(): void;
}

export function createTestKeyPair(dir: string, label = 'test'): TestKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPath = join(dir, `${label}.pub.pem`);
  writeFileSync(publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateKey, publicKey, publicKeyPath };
}

/** A copy of the repo's store (only `names` when given), every version re-signed with a fresh key. */
export function copyModelStore(options: { names?: readonly string[] } = {}): TestModelStore {
  const root = mkdtempSync(join(tmpdir(), 'pf-model-store-'));
  const dir = join(root, 'models');
  mkdirSync(dir);
  const key = createTestKeyPair(root);
  const names =
    options.names ??
    readdirSync(DEFAULT_MODEL_STORE, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'keys')
      .map((e) => e.name);
  const versionDir = (name: string, version: string) => join(dir, name, version);
  const sign = (name: string, version: string, privateKey = key.privateKey) => {
    const vdir = versionDir(name, version);
    writeFileSync(
      join(vdir, STORE_FILES.signature),
      signManifest(readFileSync(join(vdir, STORE_FILES.manifest)), privateKey),
    );
  };
  for (const name of names) {
    cpSync(join(DEFAULT_MODEL_STORE, name), join(dir, name), { recursive: true });
    for (const version of readdirSync(join(dir, name))) sign(name, version);
  }
  const editManifest: TestModelStore['editManifest'] = (name, version, edit, resign = true) => {
    const path = join(versionDir(name, version), STORE_FILES.manifest);
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    edit(manifest);
    writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`);
    if (resign) sign(name, version);
  };
  return {
    dir,
    key,
    versionDir,
    sign,
    editManifest,
    addVersion(name, from, to) {
      const target = versionDir(name, to);
      cpSync(versionDir(name, from), target, { recursive: true });
      const goldenPath = join(target, STORE_FILES.golden);
      const golden = JSON.parse(readFileSync(goldenPath, 'utf8')) as Record<string, unknown>;
      writeFileSync(goldenPath, `${JSON.stringify({ ...golden, version: to })}\n`);
      editManifest(name, to, (m) => {
        m.version = to;
      });
      return target;
    },
    flipModelByte(name, version) {
      const path = join(versionDir(name, version), STORE_FILES.model);
      const bytes = readFileSync(path);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      writeFileSync(path, bytes);
      return path;
    },
    remove() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}
