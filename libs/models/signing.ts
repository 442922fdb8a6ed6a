/**
 * Ed25519 signatures over a model version's manifest bytes (node:crypto, no dependency).
 *
 * The signature is detached, in `manifest.sig` beside `manifest.json`: what is signed is
 * the manifest file exactly as it sits on disk, so nothing has to be canonicalised (the
 * usual way envelope schemes go wrong) and tools read the manifest as plain JSON. The
 * manifest in turn names the sha256 of `model.onnx`, so one signature covers the model.
 *
 * `manifest.sig` is a small JSON document: the algorithm, the signature (base64) and the id
 * of the key that made it. The key id is only a hint for error messages ("signed by key X,
 * this tagger trusts key Y"); trust comes from verifying with the configured public key.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ErrorCodes, PipelineError } from '@patternflow/errors';

export interface ManifestSignature {
  algorithm: 'ed25519';
  /** sha256 of the signer's public key (SPKI DER), first 16 hex digits. */
  key_id: string;
  /** Base64 of the 64-byte Ed25519 signature over the manifest file's bytes. */
  signature: string;
}

/** The id of a key pair, from its public half: the same for the private and the public key. */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/**
 * Whether `key` is the repo's DEV public key (by key id, so a copy of the file elsewhere is
 * recognised too). Anyone can sign for that key: the tagger warns when it trusts it.
 */
export function isDevPublicKey(key: KeyObject, devPublicKeyPath: string): boolean {
  try {
    return keyIdOf(key) === keyIdOf(createPublicKey(readFileSync(devPublicKeyPath, 'utf8')));
  } catch {
    return false;
  }
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `${what} ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      { cause: error, details: { file: path } },
    );
  }
}

function requireEd25519(key: KeyObject, path: string, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `${what} ${path} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; model signatures are Ed25519`,
      { details: { file: path } },
    );
  }
  return key;
}

/** Reads a PEM public key (SPKI) that verifies model manifests. */
export function readPublicKey(path: string): KeyObject {
  const pem = readKeyFile(path, 'model public key');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `model public key ${path} is not a PEM public key: ${(error as Error).message}`,
      { cause: error, details: { file: path } },
    );
  }
  if (key.type !== 'public') {
    throw new PipelineError(ErrorCodes.CONFIG_INVALID, `model public key ${path} is not a public key`, {
      details: { file: path },
    });
  }
  return requireEd25519(key, path, 'model public key');
}

/** Reads a PEM private key (PKCS8) that signs model manifests. */
export function readPrivateKey(path: string): KeyObject {
  const pem = readKeyFile(path, 'model signing key');
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `model signing key ${path} is not a PEM private key (PKCS8): ${(error as Error).message}`,
      { cause: error, details: { file: path } },
    );
  }
  return requireEd25519(key, path, 'model signing key');
}

/** The `manifest.sig` text for these manifest bytes (deterministic: Ed25519 has no nonce). */
export function signManifest(manifestBytes: Uint8Array, privateKey: KeyObject): string {
  const signature: ManifestSignature = {
    algorithm: 'ed25519',
    key_id: keyIdOf(privateKey),
    signature: sign(null, manifestBytes, privateKey).toString('base64'),
  };
  return `${JSON.stringify(signature, null, 2)}\n`;
}

function signatureError(
  sigPath: string,
  reason: string,
  details: Record<string, unknown> = {},
): PipelineError {
  return new PipelineError(ErrorCodes.MODEL_SIGNATURE, `model signature ${sigPath}: ${reason}`, {
    details: { file: sigPath, reason, ...details },
  });
}

function parseSignature(sigPath: string, text: string): ManifestSignature {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw signatureError(sigPath, 'is not a JSON signature document');
  }
  const s = value as Partial<ManifestSignature> | null;
  if (s === null || typeof s !== 'object' || s.algorithm !== 'ed25519')
    throw signatureError(sigPath, 'algorithm must be "ed25519"');
  if (typeof s.signature !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(s.signature))
    throw signatureError(sigPath, 'signature must be 64 bytes of base64');
  return { algorithm: 'ed25519', key_id: String(s.key_id ?? ''), signature: s.signature };
}

/**
 * Verifies `manifest.sig` (its text, or undefined when the file is missing) over the exact
 * manifest bytes with the trusted public key. Throws PF_MODEL_SIGNATURE saying why.
 */
export function verifyManifestSignature(
  manifestBytes: Uint8Array,
  sigText: string | undefined,
  publicKey: KeyObject,
  sigPath: string,
): void {
  if (sigText === undefined) throw signatureError(sigPath, 'is missing: the manifest is not signed');
  const signature = parseSignature(sigPath, sigText);
  const trusted = keyIdOf(publicKey);
  if (verify(null, manifestBytes, publicKey, Buffer.from(signature.signature, 'base64'))) return;
  if (signature.key_id !== trusted) {
    throw signatureError(
      sigPath,
      `does not verify: signed by key ${signature.key_id || '(no key id)'}, the trusted public key is ${trusted}`,
      { signedBy: signature.key_id, trustedKey: trusted },
    );
  }
  throw signatureError(
    sigPath,
    `does not verify with the trusted key ${trusted}: the manifest changed after signing, or the signature is damaged`,
    { signedBy: signature.key_id, trustedKey: trusted },
  );
}
