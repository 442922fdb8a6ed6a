/**
 * The model store: immutable, signed versions in `<store>/<name>/<version>/`:
 *
 *   model.onnx      the model
 *   manifest.json   name, version, source, sha256 of model.onnx, features, labels, thresholds,
 *                   training seeds, held-out metrics, the training reference distributions
 *   manifest.sig    Ed25519 signature over manifest.json's exact bytes (signing.ts)
 *   golden.json     held-out rows with the trainer's predictions (checked by golden.test.ts)
 *
 * A version verifies when its signature verifies with the trusted public key, its manifest
 * is valid, its name and version are those of its directory (a signed manifest copied under
 * another version is refused) and model.onnx hashes to the manifest's sha256. `keys/` at the
 * store root holds public keys, never a version.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { type ModelManifest, parseManifest } from './manifest.ts';
import { verifyManifestSignature } from './signing.ts';

/** The repo's store (`models/`), the default of PF_MODELS_DIR. */
export const DEFAULT_MODEL_STORE = fileURLToPath(new URL('../../models', import.meta.url));
/**
 * The repo's DEV public key, the default of PF_MODEL_PUBLIC_KEY. Its private half is
 * committed (training/dev-keys/), so anyone can sign for it: production sets its own key.
 */
export const DEV_PUBLIC_KEY_PATH = join(DEFAULT_MODEL_STORE, 'keys', 'DEV-ONLY-model-signing.pub.pem');

export const STORE_FILES = Object.freeze({
  model: 'model.onnx',
  manifest: 'manifest.json',
  signature: 'manifest.sig',
  golden: 'golden.json',
});

/** The directory at the store root that holds keys, not models. */
const RESERVED_NAMES = new Set(['keys']);
const NAME = /^[a-z0-9][a-z0-9._-]*$/;
const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

export interface VerifiedModelVersion {
  readonly dir: string;
  readonly manifest: ModelManifest;
  readonly manifestPath: string;
  readonly modelPath: string;
  /** The verified bytes of model.onnx: hand these to onnxruntime, not the file, so no swap slips in between. */
  readonly modelBytes: Buffer;
}

/** One version of the store index, verified or with the reason it is refused. */
export interface StoreEntry {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  /** The source the manifest claims (also when it does not verify), when it can be read at all. */
  readonly source: string | undefined;
  /** The sha256 the manifest names for model.onnx, when it can be read. */
  readonly sha256: string | undefined;
  readonly verified: boolean;
  /** Why it is refused: the error code and its message. */
  readonly problem: { readonly code: string; readonly message: string } | undefined;
}

export const isVersion = (version: string): boolean => VERSION.test(version);

/** Semantic-version order of x.y.z strings ("1.10.0" > "1.9.2"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function integrity(message: string, details: Record<string, unknown>): PipelineError {
  return new PipelineError(ErrorCodes.MODEL_INTEGRITY, message, { details });
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PipelineError(ErrorCodes.MODEL_LOAD, `${path} cannot be read: ${(error as Error).message}`, {
      cause: error,
      details: { file: path },
    });
  }
}

/**
 * Verifies one version of the store (signature, manifest, directory, sha256) and returns
 * its manifest and the verified model bytes. Throws PF_MODEL_SIGNATURE, PF_MODEL_INTEGRITY
 * or PF_MODEL_LOAD naming the file and the reason.
 */
export async function verifyModelVersion(
  store: string,
  name: string,
  version: string,
  publicKey: KeyObject,
): Promise<VerifiedModelVersion> {
  const dir = join(store, name, version);
  const manifestPath = join(dir, STORE_FILES.manifest);
  const sigPath = join(dir, STORE_FILES.signature);
  const manifestBytes = await readOptional(manifestPath);
  if (manifestBytes === undefined) {
    throw integrity(`model version ${name}@${version}: ${manifestPath} is missing`, { file: manifestPath });
  }
  // The signature is checked before the manifest is interpreted at all.
  const sig = await readOptional(sigPath);
  verifyManifestSignature(manifestBytes, sig?.toString('utf8'), publicKey, sigPath);
  const manifest = parseManifest(manifestPath, manifestBytes.toString('utf8'));
  if (manifest.name !== name || manifest.version !== version) {
    throw integrity(
      `model manifest ${manifestPath} is ${manifest.name}@${manifest.version}, its directory says ${name}@${version}`,
      { file: manifestPath, manifestName: manifest.name, manifestVersion: manifest.version },
    );
  }
  const modelPath = join(dir, manifest.file);
  const modelBytes = await readOptional(modelPath);
  if (modelBytes === undefined) {
    throw integrity(`model version ${name}@${version}: ${modelPath} is missing`, { file: modelPath });
  }
  const actual = sha256Hex(modelBytes);
  if (actual !== manifest.sha256) {
    throw integrity(
      `model ${modelPath} does not match its signed manifest: sha256 ${actual}, manifest says ${manifest.sha256}`,
      { file: modelPath, manifest: manifestPath, expected: manifest.sha256, actual },
    );
  }
  return { dir, manifest, manifestPath, modelPath, modelBytes };
}

async function subdirectories(dir: string): Promise<Dirent[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((entry) => entry.isDirectory());
  } catch (error) {
    throw new PipelineError(ErrorCodes.MODEL_LOAD, `model store ${dir} cannot be read`, {
      cause: error,
      details: { store: dir },
    });
  }
}

/** What an unverified manifest claims (source, sha256), for the index and for choosing versions. */
async function claims(dir: string): Promise<{ source?: string; sha256?: string }> {
  try {
    const value = JSON.parse(await readFile(join(dir, STORE_FILES.manifest), 'utf8')) as Record<
      string,
      unknown
    >;
    return {
      ...(typeof value.source === 'string' ? { source: value.source } : {}),
      ...(typeof value.sha256 === 'string' ? { sha256: value.sha256 } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * Every version in the store, each verified with `publicKey` (or why not), sorted by name
 * then version. A directory that is not `<name>/<x.y.z>` is listed as refused.
 */
export async function listModelVersions(store: string, publicKey: KeyObject): Promise<StoreEntry[]> {
  const entries: StoreEntry[] = [];
  for (const nameDir of await subdirectories(store)) {
    if (RESERVED_NAMES.has(nameDir.name)) continue;
    for (const versionDir of await subdirectories(join(store, nameDir.name))) {
      const name = nameDir.name;
      const version = versionDir.name;
      const dir = join(store, name, version);
      const claimed = await claims(dir);
      let problem: StoreEntry['problem'];
      if (!NAME.test(name) || !isVersion(version)) {
        problem = {
          code: ErrorCodes.MODEL_INTEGRITY,
          message: `${dir} is not <name>/<major.minor.patch> (names: lowercase letters, digits, . _ -)`,
        };
      } else {
        try {
          await verifyModelVersion(store, name, version, publicKey);
        } catch (error) {
          if (!(error instanceof PipelineError)) throw error;
          problem = { code: error.code, message: error.message };
        }
      }
      entries.push({
        name,
        version,
        dir,
        source: claimed.source,
        sha256: claimed.sha256,
        verified: problem === undefined,
        problem,
      });
    }
  }
  return entries.sort((a, b) =>
    a.name === b.name ? compareVersions(a.version, b.version) : a.name < b.name ? -1 : 1,
  );
}

/** `name@version`, as PF_MODEL_VERSIONS lists pinned versions. */
export interface VersionPin {
  readonly name: string;
  readonly version: string;
}

export function parseVersionPins(items: readonly string[], variable = 'PF_MODEL_VERSIONS'): VersionPin[] {
  const pins = items.map((item) => {
    const at = item.lastIndexOf('@');
    const name = item.slice(0, at);
    const version = item.slice(at + 1);
    if (at <= 0 || !NAME.test(name) || !isVersion(version)) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `${variable}: "${item}" is not <model name>@<major.minor.patch>`,
        { details: { item } },
      );
    }
    return { name, version };
  });
  const names = pins.map((p) => p.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) {
    throw new PipelineError(ErrorCodes.CONFIG_INVALID, `${variable} pins model ${twice} twice`, {
      details: { name: twice },
    });
  }
  return pins;
}

/**
 * The version that serves each source: the pinned version of a model of that source, else
 * the highest version whose manifest claims the source. The claim is read before
 * verification on purpose: a damaged newest version is chosen and then refused (the tagger
 * does not start), never silently replaced by an older one. A version whose manifest cannot
 * be read at all counts for the source of its model's other versions.
 */
export function chooseServingVersions(
  entries: readonly StoreEntry[],
  pins: readonly VersionPin[] = [],
): Map<string, StoreEntry> {
  for (const pin of pins) {
    if (!entries.some((e) => e.name === pin.name && e.version === pin.version)) {
      const known = entries.filter((e) => e.name === pin.name).map((e) => e.version);
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `pinned model version ${pin.name}@${pin.version} is not in the store (versions of ${pin.name}: ${known.join(', ') || 'none'})`,
        { details: { pin } },
      );
    }
  }
  const sourceOfName = new Map<string, string>();
  for (const e of entries) if (e.source !== undefined) sourceOfName.set(e.name, e.source);
  const bySource = new Map<string, StoreEntry[]>();
  for (const e of entries) {
    if (!NAME.test(e.name) || !isVersion(e.version)) continue;
    const source = e.source ?? sourceOfName.get(e.name);
    if (source === undefined) continue;
    bySource.set(source, [...(bySource.get(source) ?? []), e]);
  }
  const serving = new Map<string, StoreEntry>();
  for (const [source, candidates] of bySource) {
    const pinned = candidates.filter((e) => pins.some((p) => p.name === e.name && p.version === e.version));
    if (pinned.length > 1) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `PF_MODEL_VERSIONS pins two models of source ${source}: ${pinned.map((e) => `${e.name}@${e.version}`).join(', ')}`,
        { details: { source } },
      );
    }
    if (pinned[0]) {
      serving.set(source, pinned[0]);
      continue;
    }
    const sorted = [...candidates].sort((a, b) => compareVersions(b.version, a.version));
    const [best, next] = sorted;
    if (next && compareVersions(best!.version, next.version) === 0) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `source ${source} has two highest versions, ${best!.name}@${best!.version} and ${next.name}@${next.version}: pin one with PF_MODEL_VERSIONS`,
        { details: { source } },
      );
    }
    serving.set(source, best!);
  }
  return serving;
}
