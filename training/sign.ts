/**
 * Signs model versions of the store: writes `<version-dir>/manifest.sig`, an Ed25519
 * signature over the exact bytes of `<version-dir>/manifest.json`, with the private key
 * (PEM, PKCS8) named by PF_MODEL_SIGNING_KEY. There is no default key: training/build.sh
 * chooses the DEV key when it is not set, and says so.
 *
 *   PF_MODEL_SIGNING_KEY=key.pem node training/sign.ts <version-dir>...
 *   PF_MODEL_SIGNING_KEY=key.pem node training/sign.ts public-key     # its public key, PEM, on stdout
 *   node training/sign.ts keygen <private.pem> <public.pem>          # a new pair (private file mode 0600)
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyIdOf, readPrivateKey, STORE_FILES, signManifest } from '@patternflow/models';

function signingKey() {
  const path = process.env.PF_MODEL_SIGNING_KEY;
  if (!path) throw new Error('PF_MODEL_SIGNING_KEY must name the private key (PEM, PKCS8) that signs models');
  return readPrivateKey(path);
}

function keygen(privatePath: string | undefined, publicPath: string | undefined): void {
  if (!privatePath || !publicPath) throw new Error('usage: sign.ts keygen <private.pem> <public.pem>');
  for (const path of [privatePath, publicPath]) {
    if (existsSync(path)) throw new Error(`${path} exists: not overwriting a key`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(publicPath, publicKey.export({ type: 'spki', format: 'pem' }));
  console.log(
    `sign: new Ed25519 key pair ${keyIdOf(publicKey)}: ${privatePath} (keep secret), ${publicPath}`,
  );
}

function signVersions(dirs: readonly string[]): void {
  if (dirs.length === 0) throw new Error('usage: sign.ts <version-dir>...');
  const key = signingKey();
  for (const dir of dirs) {
    const manifestPath = join(dir, STORE_FILES.manifest);
    const manifest = readFileSync(manifestPath);
    writeFileSync(join(dir, STORE_FILES.signature), signManifest(manifest, key));
    console.log(`sign: ${manifestPath} signed with key ${keyIdOf(key)}`);
  }
}

function main(): void {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'keygen') keygen(rest[0], rest[1]);
  else if (command === 'public-key')
    process.stdout.write(createPublicKey(signingKey()).export({ type: 'spki', format: 'pem' }).toString());
  else signVersions(process.argv.slice(2));
}

try {
  main();
} catch (error) {
  console.error(`sign: ${(error as Error).message}`);
  process.exit(1);
}
