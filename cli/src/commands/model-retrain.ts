/**
 * `patternflow model retrain <source>`: closes the loop. Harvests the labelled feedback of a
 * source from PostgreSQL (pattern_feedback joined with the stored predictions, the sink's
 * tables), recomputes each record's features from its stored canonical fields with
 * @patternflow/sources' extractFeatures (the function the tagger calls: no training/serving
 * skew), hands them to training/retrain.ts (original training set from the serving manifest's
 * seeds + the feedback, train.py, evaluation of both versions on the same held-out data,
 * signature, into the store), and registers the new version as the source's shadow
 * candidate with the same change `patternflow model shadow` writes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ConfigOf, loadConfig, string } from '@patternflow/config';
import { refText } from '@patternflow/control';
import { PipelineError } from '@patternflow/errors';
import {
  chooseServingVersions,
  listModelVersions,
  loadModelRuntime,
  modelStoreConfigSpec,
  parseVersionPins,
  readPublicKey,
  type StoreEntry,
} from '@patternflow/models';
import type { AttributeValue, NormalizedPattern } from '@patternflow/records';
import { postgresConfigProblems, postgresConfigSpec, postgresPoolOptions } from '@patternflow/service';
import { extractFeatures, getSourcePack } from '@patternflow/sources';
import { type Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import type { CommandContext } from '../context.ts';
import { CliError, type ExitCode, ExitCodes } from '../exit.ts';
import { parseTimeSpec, positiveInteger } from '../options.ts';
import { printJson } from '../output.ts';
import { deploymentOf, registerShadowCandidate } from './model-deploy.ts';

/** The training scripts of the repo: retraining runs where they are (a checkout with python3), not in the service image's PATH. */
const RETRAIN_SCRIPT = fileURLToPath(new URL('../../../training/retrain.ts', import.meta.url));
const PG_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

interface RetrainOptions {
  reason: string;
  who?: string;
  newVersion?: string;
  /** Epoch millis, parsed from ISO 8601 or a duration ago. */
  since?: number;
  dryRun?: boolean;
  register: boolean;
  trainRows?: number;
  testRows?: number;
  evalRows?: number;
  feedbackWeight?: number;
  heldOutShare?: number;
  store?: string;
  publicKey?: string;
}

function harvestConfigSpec() {
  return {
    // PF_PG_URL (sslmode in it) and PF_PG_CA_FILE, and the schema: the sink's settings.
    ...postgresConfigSpec(),
    pgSchema: string('PF_PG_SCHEMA', 'public'),
  };
}
type HarvestConfig = ConfigOf<ReturnType<typeof harvestConfigSpec>>;

interface StoredPair {
  id: string;
  source: string;
  kind: string;
  tenant: string;
  tier: string;
  region: string;
  event_time_ms: number;
  ingest_time_ms: number;
  attributes: Record<string, AttributeValue>;
  true_label: string;
  predicted_label: string;
  model_name: string;
  model_version: string;
}

/**
 * Every feedback pair of the source whose prediction is stored (the join of the view
 * pattern_feedback_joined, plus the canonical fields the features are made of).
 */
const HARVEST_SQL = `
SELECT p.id, p.source, p.kind, p.tenant, p.tier, p.region,
       round(extract(epoch FROM p.event_time) * 1000)::float8  AS event_time_ms,
       round(extract(epoch FROM p.ingest_time) * 1000)::float8 AS ingest_time_ms,
       p.attributes, f.label AS true_label, p.label AS predicted_label, p.model_name, p.model_version
  FROM pattern_feedback f
  JOIN patterns p ON p.id = f.id
 WHERE p.source = $1 AND ($2::timestamptz IS NULL OR f.received_at >= $2::timestamptz)
 ORDER BY f.id`;
/** Feedback naming the source whose prediction is not (yet) stored: counted, not usable. */
const UNMATCHED_SQL = `
SELECT count(*)::int AS n FROM pattern_feedback f
 WHERE f.source = $1 AND ($2::timestamptz IS NULL OR f.received_at >= $2::timestamptz)
   AND NOT EXISTS (SELECT 1 FROM patterns p WHERE p.id = f.id)`;

async function readPairs(config: HarvestConfig, source: string, since: Date | null) {
  const pool = new pg.Pool({
    ...postgresPoolOptions(config),
    max: 1,
    options: `-c search_path=${config.pgSchema}`,
    application_name: `patternflow-cli.retrain/${config.pgSchema}`,
  });
  try {
    const pairs = await pool.query<StoredPair>(HARVEST_SQL, [source, since]);
    const unmatched = await pool.query<{ n: number }>(UNMATCHED_SQL, [source, since]);
    return { pairs: pairs.rows, unmatched: unmatched.rows[0]?.n ?? 0 };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '42P01')
      throw new CliError(
        ExitCodes.FAILED,
        `no feedback tables in schema ${config.pgSchema}: the sink creates pattern_feedback and patterns when it starts (PF_PG_SCHEMA as the sink's)`,
      );
    // Connection classes of SQLSTATE (08, 57P0x, 53) and Node's socket errors (ECONNREFUSED, ETIMEDOUT…).
    if (code === undefined || /^(08|57P0|53|E[A-Z]+$)/.test(code))
      throw new CliError(ExitCodes.UNAVAILABLE, `PostgreSQL: ${(error as Error).message}`);
    throw error;
  } finally {
    await pool.end().catch(() => {});
  }
}

interface Harvest {
  source: string;
  since: string | null;
  schema: string;
  /** Pairs read (feedback with a stored prediction of the source). */
  pairs: number;
  /** Feedback naming the source without a stored prediction. */
  unmatched: number;
  /** Pairs whose true label is not one of the model's labels, by label. */
  skipped_unknown_label: Record<string, number>;
  /** Pairs whose features could not be recomputed, by error code. */
  skipped_features: Record<string, number>;
  usable: number;
  /**
   * Recomputed features through the serving version, for pairs it labelled: how many give the
   * label it stored. Anything below all of them is skew between serving and this harvest.
   */
  skew_check: { version: string; checked: number; same_label: number };
}

function canonicalRecord(pair: StoredPair): NormalizedPattern {
  return {
    id: pair.id,
    source: pair.source,
    kind: pair.kind,
    event_time: pair.event_time_ms,
    ingest_time: pair.ingest_time_ms,
    tenant: pair.tenant,
    tier: pair.tier,
    region: pair.region,
    attributes: pair.attributes,
    // extractFeatures reads attributes, tier, region and event_time only.
    payload: '',
    payload_format: 'JSON',
    payload_schema_id: null,
  };
}

const versionParts = (v: string) => v.split('.').map(Number) as [number, number, number];
const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

async function retrain(context: CommandContext, source: string, options: RetrainOptions): Promise<ExitCode> {
  const { io } = context;
  if (options.reason.trim() === '') throw new CliError(ExitCodes.USAGE, '--reason must say why');
  if (!getSourcePack(source)) throw new CliError(ExitCodes.USAGE, `unknown source "${source}"`);
  if (!existsSync(RETRAIN_SCRIPT))
    throw new CliError(
      ExitCodes.FAILED,
      `${RETRAIN_SCRIPT} is missing: retraining runs from a checkout of the repository (training/, python3), not from the service image`,
    );
  const pgConfig = loadConfig(harvestConfigSpec(), context.env, [
    (c) => postgresConfigProblems(c).join('; ') || undefined,
    (c) =>
      PG_SCHEMA.test(c.pgSchema) ? undefined : `PF_PG_SCHEMA must be a plain lower-case SQL identifier`,
  ]);
  const storeConfig = loadConfig(modelStoreConfigSpec(), {
    ...context.env,
    ...(options.store === undefined ? {} : { PF_MODELS_DIR: options.store }),
    ...(options.publicKey === undefined ? {} : { PF_MODEL_PUBLIC_KEY: options.publicKey }),
  });
  const publicKey = readPublicKey(storeConfig.modelPublicKey);
  const since = options.since === undefined ? null : new Date(options.since);

  // The serving version: the deployment in force, else (nothing to register with) the store's choice.
  const entries = await listModelVersions(storeConfig.modelsDir, publicKey);
  const deployment = await deploymentOf(context, source);
  if (!deployment && options.register && !options.dryRun)
    throw new CliError(
      ExitCodes.FAILED,
      `no deployment of ${source} on the models control topic: the first tagger replica seeds it (or use model promote); --no-register retrains without one`,
    );
  let serving: StoreEntry | undefined;
  if (deployment) {
    serving = entries.find(
      (e) => e.name === deployment.serving.name && e.version === deployment.serving.version,
    );
    if (!serving)
      throw new CliError(
        ExitCodes.FAILED,
        `${refText(deployment.serving)} serves ${source} but is not in the store ${storeConfig.modelsDir}`,
      );
  } else {
    serving = chooseServingVersions(entries, parseVersionPins(storeConfig.modelVersions)).get(source);
    if (!serving)
      throw new CliError(ExitCodes.FAILED, `no model version of ${source} in ${storeConfig.modelsDir}`);
  }
  if (!serving.verified)
    throw new CliError(
      ExitCodes.REFUSED,
      `refused: the serving version ${serving.name}@${serving.version} does not verify (${serving.problem?.message})`,
    );
  const [major, minor] = versionParts(serving.version);
  const version = options.newVersion ?? `${major}.${minor + 1}.0`;
  if (!/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/.test(version))
    throw new CliError(ExitCodes.USAGE, `--new-version must be major.minor.patch, got "${version}"`);
  const taken = entries.find((e) => e.name === serving.name && e.version === version);
  if (taken)
    throw new CliError(
      ExitCodes.REFUSED,
      `refused: ${serving.name}@${version} exists in ${storeConfig.modelsDir}; versions are immutable: choose another with --new-version`,
    );

  // Harvest: features recomputed from the stored canonical fields, labels checked against the model.
  const { pairs, unmatched } = await readPairs(pgConfig, source, since);
  const runtime = await loadModelRuntime({
    store: storeConfig.modelsDir,
    publicKey,
    pins: [{ name: serving.name, version: serving.version }],
  });
  const rows: { id: string; label: string; features: number[] }[] = [];
  const harvest: Harvest = {
    source,
    since: since?.toISOString() ?? null,
    schema: pgConfig.pgSchema,
    pairs: pairs.length,
    unmatched,
    skipped_unknown_label: {},
    skipped_features: {},
    usable: 0,
    skew_check: { version: serving.version, checked: 0, same_label: 0 },
  };
  try {
    const model = runtime.models.find((m) => m.name === serving.name)!;
    const checkRows: Float32Array[] = [];
    const checkLabels: string[] = [];
    for (const pair of pairs) {
      if (!model.labels.includes(pair.true_label)) {
        increment(harvest.skipped_unknown_label, pair.true_label);
        continue;
      }
      let values: Float32Array;
      try {
        values = extractFeatures(canonicalRecord(pair)).values;
      } catch (error) {
        if (!(error instanceof PipelineError)) throw error;
        increment(harvest.skipped_features, error.code);
        continue;
      }
      rows.push({ id: pair.id, label: pair.true_label, features: Array.from(values) });
      if (pair.model_name === serving.name && pair.model_version === serving.version) {
        checkRows.push(values);
        checkLabels.push(pair.predicted_label);
      }
    }
    harvest.usable = rows.length;
    const outcomes = checkRows.length > 0 ? await runtime.predict(model.source, checkRows) : [];
    harvest.skew_check.checked = outcomes.length;
    harvest.skew_check.same_label = outcomes.filter(
      (o, i) => o.ok && o.prediction.label === checkLabels[i],
    ).length;
  } finally {
    await runtime.close();
  }
  if (rows.length === 0)
    throw new CliError(
      ExitCodes.FAILED,
      `no usable feedback for ${source}${since ? ` since ${since.toISOString()}` : ''}: ${pairs.length} pairs read, ${unmatched} feedback rows without a stored prediction`,
    );

  // Train, evaluate, sign, store: training/retrain.ts.
  const work = mkdtempSync(join(tmpdir(), 'pf-retrain-cli-'));
  let result: RetrainResult;
  try {
    const feedbackFile = join(work, 'feedback.json');
    const resultFile = join(work, 'result.json');
    writeFileSync(feedbackFile, JSON.stringify({ harvest, rows }));
    const args = [
      RETRAIN_SCRIPT,
      '--serving',
      serving.dir,
      '--feedback',
      feedbackFile,
      '--store',
      storeConfig.modelsDir,
      '--version',
      version,
      '--result',
      resultFile,
      '--reason',
      options.reason,
      ...(options.trainRows ? ['--train-rows', String(options.trainRows)] : []),
      ...(options.testRows ? ['--test-rows', String(options.testRows)] : []),
      ...(options.evalRows ? ['--eval-rows', String(options.evalRows)] : []),
      ...(options.feedbackWeight ? ['--feedback-weight', String(options.feedbackWeight)] : []),
      ...(options.heldOutShare ? ['--held-out-share', String(options.heldOutShare)] : []),
      ...(options.dryRun ? ['--dry-run'] : []),
    ];
    await runTraining(context, args);
    result = JSON.parse(readFileSync(resultFile, 'utf8')) as RetrainResult;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  // Register: the shadow change `patternflow model shadow` writes.
  let registration: Awaited<ReturnType<typeof registerShadowCandidate>> | null = null;
  if (options.register && !options.dryRun) {
    registration = await registerShadowCandidate(context, result.name, result.version, {
      reason: options.reason,
      who: options.who,
      store: options.store,
      publicKey: options.publicKey,
    });
  }

  if (context.json()) {
    printJson(io, {
      serving: { name: serving.name, version: serving.version, sha256: serving.sha256 },
      harvest,
      result,
      registered: registration ? { deployment: registration.deployment, audit: registration.audit } : null,
    });
    return ExitCodes.OK;
  }
  printReport(context, { serving, harvest, result, registration, dryRun: options.dryRun === true });
  return ExitCodes.OK;
}

interface SetMetrics {
  rows: number;
  macro_f1: number;
  accuracy: number;
  per_class: Record<string, { precision: number; recall: number; f1: number; support: number }>;
}
interface VersionEvaluation {
  version: string;
  generated: SetMetrics;
  feedback_held_out: SetMetrics;
}
interface RetrainResult {
  name: string;
  version: string;
  sha256: string;
  dir: string | null;
  written: boolean;
  feedback: { trained: number; held_out: number; weight: number };
  train_rows: number;
  evaluation: {
    sets: { generated: { seed: number; rows: number }; feedback_held_out: { rows: number } };
    serving: VersionEvaluation;
    candidate: VersionEvaluation;
  };
  timings: Record<string, number>;
}

/** Runs training/retrain.ts with this node; its progress goes to stderr, so --json stays one document. */
function runTraining(context: CommandContext, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...context.env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const forward = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) if (line !== '') context.io.err(line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    const onAbort = () => child.kill('SIGTERM');
    context.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      context.signal.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else {
        const last = tail
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('retrain:'))
          .pop();
        reject(
          new CliError(
            ExitCodes.FAILED,
            `training failed (${signal ?? `exit ${code}`})${last ? `: ${last.replace(/^retrain: /, '')}` : ''}; nothing was written to the store`,
          ),
        );
      }
    });
  });
}

const f3 = (v: number) => v.toFixed(3);

function printReport(
  context: CommandContext,
  what: {
    serving: StoreEntry;
    harvest: Harvest;
    result: RetrainResult;
    registration: Awaited<ReturnType<typeof registerShadowCandidate>> | null;
    dryRun: boolean;
  },
): void {
  const { io } = context;
  const { harvest, result, serving } = what;
  const skipped = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  io.out(
    `feedback of ${harvest.source} (schema ${harvest.schema}${harvest.since ? `, since ${harvest.since}` : ''}): ${harvest.pairs} pairs with a stored prediction, ${harvest.unmatched} without; skipped: unknown label ${skipped(harvest.skipped_unknown_label)}, features ${skipped(harvest.skipped_features)}; usable ${harvest.usable}`,
  );
  io.out(
    `skew check: ${harvest.skew_check.same_label}/${harvest.skew_check.checked} recomputed rows get the label ${serving.name}@${harvest.skew_check.version} stored`,
  );
  io.out(
    `trained ${result.name}@${result.version} on ${result.train_rows} generated rows + ${result.feedback.trained} feedback rows (weight ${result.feedback.weight}); ${result.feedback.held_out} feedback rows held out; ${result.timings.total_seconds} s`,
  );
  const { evaluation } = result;
  for (const set of ['generated', 'feedback_held_out'] as const) {
    const title =
      set === 'generated'
        ? `held-out generated set (seed ${evaluation.sets.generated.seed}, ${evaluation.sets.generated.rows} rows)`
        : `held-out feedback (${evaluation.sets.feedback_held_out.rows} rows)`;
    const before = evaluation.serving[set];
    const after = evaluation.candidate[set];
    io.out(
      `\n${title}          serving ${evaluation.serving.version} P / R / F1    candidate ${result.version} P / R / F1`,
    );
    for (const [label, b] of Object.entries(before.per_class)) {
      const a = after.per_class[label]!;
      io.out(
        `  ${label.padEnd(16)} ${String(b.support).padStart(6)}   ${f3(b.precision)} / ${f3(b.recall)} / ${f3(b.f1)}    ${f3(a.precision)} / ${f3(a.recall)} / ${f3(a.f1)}`,
      );
    }
    io.out(`  macro-F1: serving ${f3(before.macro_f1)}, candidate ${f3(after.macro_f1)}`);
  }
  io.out('');
  if (what.dryRun) io.out('dry run: nothing written to the store, nothing registered');
  else io.out(`written: ${result.dir} (signed, sha256 ${result.sha256.slice(0, 12)})`);
  if (what.registration) {
    const { deployment, audit } = what.registration;
    io.out(
      `registered: ${result.name}@${result.version} is the shadow candidate of ${deployment.source} (serving ${refText(deployment.serving)}), by ${audit.who}: ${audit.reason}`,
    );
  } else if (!what.dryRun)
    io.out(
      `not registered (--no-register): patternflow model shadow ${result.name} ${result.version} --reason …`,
    );
}

const positiveNumber = (what: string, below?: number) => (raw: string) => {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (below !== undefined && value >= below))
    throw new InvalidArgumentError(
      `${what} must be a number above 0${below === undefined ? '' : ` and below ${below}`}`,
    );
  return value;
};

/** Adds `patternflow model retrain`. */
export function registerModelRetrainCommand(model: Command, context: CommandContext): void {
  model
    .command('retrain')
    .description(
      "retrain a source's model from its labelled feedback in PostgreSQL plus the original training set, write a new signed version with its evaluation against the serving one on the same held-out data, and make it the source's shadow candidate",
    )
    .argument('<source>', 'the source whose model is retrained')
    .requiredOption('--reason <text>', 'why (kept in the manifest and the audit trail)')
    .option('--who <name>', 'who registers it (default: $USER@hostname)')
    .option(
      '--new-version <x.y.z>',
      "the new version (default: the next minor of the serving version; --version is the CLI's own)",
    )
    .option(
      '--since <time>',
      'only feedback received since then: ISO 8601 or a duration ago (7d)',
      (raw: string) => parseTimeSpec(raw, Date.now()),
    )
    .option('--dry-run', 'train and evaluate, but write nothing to the store and register nothing')
    .option('--no-register', 'write the version, but do not make it the shadow candidate')
    .option('--train-rows <n>', "generated training rows (default: the serving manifest's)", positiveInteger)
    .option(
      '--test-rows <n>',
      "the trainer's held-out rows (default: the serving manifest's)",
      positiveInteger,
    )
    .option('--eval-rows <n>', 'generated evaluation rows (default: 20000, as make eval)', positiveInteger)
    .option(
      '--feedback-weight <w>',
      'sample weight of a feedback row; a generated row weighs 1 (default 1)',
      positiveNumber('--feedback-weight'),
    )
    .option(
      '--held-out-share <s>',
      'share of the feedback held out for evaluation (default 0.2)',
      positiveNumber('--held-out-share', 1),
    )
    .option('--store <dir>', "the model store (default: $PF_MODELS_DIR, else the repo's models/)")
    .option(
      '--public-key <pem>',
      "the trusted Ed25519 public key (default: $PF_MODEL_PUBLIC_KEY, else the repo's DEV key)",
    )
    .action(context.action((source: string, o: RetrainOptions) => retrain(context, source, o)));
}
