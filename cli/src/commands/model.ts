/**
 * `patternflow model list`: the model store as the tagger sees it. Every version, whether it
 * verifies with the trusted public key (signature over the manifest bytes, manifest, its
 * directory, the sha256 of model.onnx) and why not, and which version would serve each
 * source at the tagger's next start when the models control topic holds no deployment of it
 * (pins from PF_MODEL_VERSIONS, else the highest; model-deploy.ts manages deployments).
 * Reads the store directory only: no Kafka.
 */
import { loadConfig } from '@patternflow/config';
import {
  chooseServingVersions,
  DEV_PUBLIC_KEY_PATH,
  isDevPublicKey,
  keyIdOf,
  listModelVersions,
  modelStoreConfigSpec,
  parseVersionPins,
  readPublicKey,
  type StoreEntry,
} from '@patternflow/models';
import type { CommandContext, RegisterCommand } from '../context.ts';
import { type ExitCode, ExitCodes } from '../exit.ts';
import { type Column, formatTable, printJson } from '../output.ts';
import { registerModelDeployCommands } from './model-deploy.ts';
import { registerModelRetrainCommand } from './model-retrain.ts';

interface ListOptions {
  store?: string;
  publicKey?: string;
}

interface ListedVersion {
  name: string;
  version: string;
  source: string | null;
  sha256: string | null;
  verified: boolean;
  /** Why it is refused: the error code and message. */
  problem: { code: string; message: string } | null;
  /** The source this version would serve at the tagger's next start, if any. */
  serves: string | null;
}

async function list(context: CommandContext, options: ListOptions): Promise<ExitCode> {
  const settings = loadConfig(modelStoreConfigSpec(), {
    ...context.env,
    ...(options.store === undefined ? {} : { PF_MODELS_DIR: options.store }),
    ...(options.publicKey === undefined ? {} : { PF_MODEL_PUBLIC_KEY: options.publicKey }),
  });
  const publicKey = readPublicKey(settings.modelPublicKey);
  const devKey = isDevPublicKey(publicKey, DEV_PUBLIC_KEY_PATH);
  const entries = await listModelVersions(settings.modelsDir, publicKey);
  const serving = chooseServingVersions(entries, parseVersionPins(settings.modelVersions));
  const servesOf = (entry: StoreEntry): string | null =>
    [...serving].find(([, chosen]) => chosen === entry)?.[0] ?? null;
  const versions: ListedVersion[] = entries.map((entry) => ({
    name: entry.name,
    version: entry.version,
    source: entry.source ?? null,
    sha256: entry.sha256 ?? null,
    verified: entry.verified,
    problem: entry.problem ? { ...entry.problem } : null,
    serves: servesOf(entry),
  }));
  // The tagger refuses to start when a version it would serve does not verify.
  const blocking = versions.filter((v) => v.serves !== null && !v.verified);
  const allVerified = versions.every((v) => v.verified);

  if (context.json()) {
    printJson(context.io, {
      store: settings.modelsDir,
      publicKey: { path: settings.modelPublicKey, keyId: keyIdOf(publicKey), dev: devKey },
      pins: settings.modelVersions,
      versions,
      serving: Object.fromEntries([...serving].map(([source, e]) => [source, `${e.name}@${e.version}`])),
      taggerWouldStart: blocking.length === 0 && serving.size > 0,
    });
  } else {
    const { io } = context;
    io.out(`store  ${settings.modelsDir}`);
    io.out(
      `key    ${keyIdOf(publicKey)} (${settings.modelPublicKey})${devKey ? " — the repo's DEV key: anyone can sign for it" : ''}`,
    );
    if (versions.length === 0) io.out('no model versions in the store');
    else {
      const columns: Column<ListedVersion>[] = [
        { header: 'NAME', value: (v) => v.name },
        { header: 'VERSION', value: (v) => v.version },
        { header: 'SOURCE', value: (v) => v.source },
        { header: 'SHA256', value: (v) => v.sha256?.slice(0, 12) },
        { header: 'VERIFIED', value: (v) => (v.verified ? 'yes' : `no (${v.problem?.code})`) },
        {
          header: 'SERVES',
          value: (v) => (v.serves === null ? '' : v.verified ? v.serves : `${v.serves} (REFUSED)`),
        },
      ];
      io.out(formatTable(versions, columns));
    }
    for (const v of versions.filter((x) => !x.verified))
      io.out(`${v.name}@${v.version}: ${v.problem?.message}`);
    for (const v of blocking) {
      io.out(
        `the tagger would not start: ${v.name}@${v.version} is the version of ${v.serves} and does not verify (pin another with PF_MODEL_VERSIONS, or remove it)`,
      );
    }
  }
  return allVerified && versions.length > 0 ? ExitCodes.OK : ExitCodes.FAILED;
}

export const registerModelCommand: RegisterCommand = (program, context) => {
  const model = program
    .command('model')
    .description(
      'the signed model store and its deployments: versions, signatures, which version serves each source, shadow and canary candidates, promotion and rollback',
    );
  model
    .command('list')
    .description(
      'every version in the store, verified (signature, manifest, sha256) or why not, and which one serves each source; exit 1 when any version is refused',
    )
    .option('--store <dir>', "the model store (default: $PF_MODELS_DIR, else the repo's models/)")
    .option(
      '--public-key <pem>',
      "the trusted Ed25519 public key (default: $PF_MODEL_PUBLIC_KEY, else the repo's DEV key)",
    )
    .action(context.action((options: ListOptions) => list(context, options)));
  registerModelDeployCommands(model, context);
  registerModelRetrainCommand(model, context);
};
