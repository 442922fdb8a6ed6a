/**
 * `patternflow model promote|rollback|shadow|canary|clear-candidate|show|history`: the model
 * deployment of each source lives on the models control topic (libs/control models.ts); every
 * tagger replica follows it, loads and verifies a new deployment, and swaps between two
 * micro-batches. Each change is written with its audit entry in one transaction; `--wait`
 * follows the replicas' acknowledgements until every running one labels with it.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { loadConfig } from '@patternflow/config';
import {
  type AuditEntry,
  applyModelControlRecord,
  type CandidateRef,
  decodeModelControlRecord,
  deploymentChange,
  emptyModelControlState,
  liveFollowers,
  type ModelAction,
  type ModelDeployment,
  type ModelRef,
  type ModelReplicaAck,
  modelControlTopicSpecs,
  modelReplicaGroupPrefix,
  readAuditTrail,
  readModelControlState,
  refText,
  rollbackTarget,
  sameDeployment,
  validShare,
} from '@patternflow/control';
import { ensureTopics, followTopic, kafkaFailure, openTransactionalWriter } from '@patternflow/kafka';
import { listModelVersions, modelStoreConfigSpec, readPublicKey } from '@patternflow/models';
import { type Command, InvalidArgumentError } from 'commander';
import { type AckView, type WaitOutcome, waitForAcknowledgements } from '../acknowledgements.ts';
import { printAuditHistory } from '../audit-history.ts';
import type { CommandContext } from '../context.ts';
import { CliError, type ExitCode, ExitCodes } from '../exit.ts';
import { formatTable, printJson } from '../output.ts';
import type { Session } from '../session.ts';

/** A person waits for these reads: a broker that does not answer fails the command within this. */
const READ_TIMEOUT_MS = 15_000;
const throwawayGroup = () => `patternflow-cli.${randomUUID()}`;

interface StoreOptions {
  store?: string;
  publicKey?: string;
}
interface ChangeOptions extends StoreOptions {
  reason: string;
  who?: string;
  wait?: boolean;
  timeout: number;
}

function accountName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

async function kafkaCall<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw kafkaFailure(error) ?? error;
  }
}

/**
 * A version of the local store, verified with the trusted key: a deployment pins its sha256,
 * and a version that does not verify here would be refused by every replica too.
 */
async function storeVersion(
  context: CommandContext,
  options: StoreOptions,
  name: string,
  version: string,
): Promise<ModelRef & { source: string }> {
  const settings = loadConfig(modelStoreConfigSpec(), {
    ...context.env,
    ...(options.store === undefined ? {} : { PF_MODELS_DIR: options.store }),
    ...(options.publicKey === undefined ? {} : { PF_MODEL_PUBLIC_KEY: options.publicKey }),
  });
  const entries = await listModelVersions(settings.modelsDir, readPublicKey(settings.modelPublicKey));
  const entry = entries.find((e) => e.name === name && e.version === version);
  if (!entry) {
    const known = entries.filter((e) => e.name === name).map((e) => e.version);
    throw new CliError(
      ExitCodes.USAGE,
      `${name}@${version} is not in the store ${settings.modelsDir}${known.length > 0 ? ` (versions of ${name}: ${known.join(', ')})` : ''}`,
    );
  }
  if (!entry.verified || !entry.source || !entry.sha256) {
    throw new CliError(
      ExitCodes.REFUSED,
      `refused: ${name}@${version} does not verify (${entry.problem?.code}: ${entry.problem?.message}); no replica would load it`,
    );
  }
  return { name, version, sha256: entry.sha256, source: entry.source };
}

const readState = (session: Session) =>
  readModelControlState({
    kafka: session.kafka(),
    topics: session.topics,
    groupId: throwawayGroup(),
    logger: session.logger,
    timeoutMs: READ_TIMEOUT_MS,
  });

const readTrail = (session: Session) =>
  readAuditTrail({
    kafka: session.kafka(),
    topics: session.topics,
    groupId: throwawayGroup(),
    logger: session.logger,
    timeoutMs: READ_TIMEOUT_MS,
  });

const describe = (d: Pick<ModelDeployment, 'serving' | 'candidate'>) =>
  `serving ${refText(d.serving)}${d.candidate ? `, candidate ${refText(d.candidate)} (${d.candidate.mode}${d.candidate.mode === 'canary' ? ` ${d.candidate.share}` : ''})` : ''}`;

interface DeploymentChange {
  source: string;
  action: ModelAction;
  previous: ModelDeployment | undefined;
  serving: ModelRef;
  candidate: CandidateRef | null;
}

/** Writes one deployment change: the record and its audit entry, in one transaction. */
async function writeChange(
  context: CommandContext,
  options: Pick<ChangeOptions, 'reason' | 'who'>,
  what: DeploymentChange,
): Promise<{ deployment: ModelDeployment; audit: AuditEntry; who: string }> {
  const { env } = context;
  if (options.reason.trim() === '') throw new CliError(ExitCodes.USAGE, '--reason must say why');
  const session = context.session();
  const { topics } = session;
  if (what.previous && sameDeployment(what.previous, what)) {
    throw new CliError(
      ExitCodes.REFUSED,
      `refused: ${what.source} already has this deployment (${describe(what)})`,
    );
  }
  const who = options.who ?? `${env.USER ?? env.LOGNAME ?? accountName()}@${hostname()}`;
  const { deployment, audit, messages } = deploymentChange({
    topics,
    source: what.source,
    serving: what.serving,
    candidate: what.candidate,
    previous: what.previous,
    action: what.action,
    who,
    reason: options.reason,
  });
  const writer = openTransactionalWriter({
    kafka: session.kafka(),
    transactionalId: `patternflow-cli.${topics.controlModels}`,
  });
  try {
    await writer.write(messages);
  } finally {
    await writer.close();
  }
  return { deployment, audit, who };
}

/** Writes one deployment change (record + audit entry, one transaction), then waits when asked. */
async function change(
  context: CommandContext,
  options: ChangeOptions,
  what: DeploymentChange,
): Promise<ExitCode> {
  const { io } = context;
  const { deployment, audit, who } = await writeChange(context, options, what);
  if (!context.json()) {
    io.out(
      `${what.action} ${what.source}: ${describe(deployment)}${what.previous ? ` (was: ${describe(what.previous)})` : ''}, by ${who}: ${options.reason}`,
    );
  }
  if (!options.wait) {
    if (context.json()) printJson(io, { deployment, audit, replicas: null });
    return ExitCodes.OK;
  }
  const outcome = await waitForReplicas(context, deployment, options.timeout * 1000);
  if (context.json())
    printJson(io, { deployment, audit, replicas: outcome.replicas, waited: outcome.result });
  else io.out(outcome.text);
  return outcome.result === 'in-force' ? ExitCodes.OK : ExitCodes.FAILED;
}

interface ReplicaView extends AckView {
  /** What it labels `source` with now. */
  serving: string | null;
  at: string | null;
}

/** Follows the acknowledgements until every running tagger replica labels with `deployment` (or refused it). */
function waitForReplicas(
  context: CommandContext,
  deployment: ModelDeployment,
  timeoutMs: number,
): Promise<WaitOutcome<ReplicaView>> {
  const session = context.session();
  const state = emptyModelControlState();
  const follower = followTopic({
    kafka: session.kafka(),
    topic: session.topics.controlModels,
    groupId: throwawayGroup(),
    logger: session.logger,
    onRecord: (inbound) => applyModelControlRecord(state, decodeModelControlRecord(inbound)),
    catchUpTimeoutMs: READ_TIMEOUT_MS,
  });
  const prefix = modelReplicaGroupPrefix(session.groupIdOf('inference-tagger'));
  return waitForAcknowledgements({
    follower,
    views: async () => {
      const live = await kafkaCall(liveFollowers(await session.admin(), prefix));
      return live.map((replica) => {
        const ack = state.acks.get(replica)?.sources[deployment.source];
        const mine = ack?.id === deployment.id;
        return {
          replica,
          status: mine ? ack.status : 'pending',
          serving: ack ? refText(ack.serving) : null,
          at: mine ? (state.acks.get(replica)?.at ?? null) : null,
          ...(mine && ack.detail ? { detail: ack.detail } : {}),
        };
      });
    },
    serving: (view) => view.serving,
    replicas: 'tagger',
    noneRunning: 'no tagger replica runs: the deployment applies when one starts',
    timeoutMs,
    pollMs: 100,
    signal: context.signal,
  });
}

/** The deployment in force for `source`; a candidate change needs one (the first tagger seeds it). */
function requireDeployment(
  state: { deployments: Map<string, ModelDeployment> },
  source: string,
  topic: string,
) {
  const previous = state.deployments.get(source);
  if (!previous) {
    throw new CliError(
      ExitCodes.FAILED,
      `no deployment of ${source} on ${topic}: the first tagger replica seeds it with the version it serves (or use model promote)`,
    );
  }
  return previous;
}

async function prepareTopics(session: Session) {
  await kafkaCall(ensureTopics(session.kafka(), modelControlTopicSpecs(session.topics)));
}

async function promote(context: CommandContext, name: string, version: string, options: ChangeOptions) {
  const ref = await storeVersion(context, options, name, version);
  const session = context.session();
  await prepareTopics(session);
  const previous = (await readState(session)).deployments.get(ref.source);
  const { source, ...serving } = ref;
  return change(context, options, { source, action: 'model.promote', previous, serving, candidate: null });
}

async function rollback(context: CommandContext, source: string, options: ChangeOptions) {
  const session = context.session();
  await prepareTopics(session);
  const previous = requireDeployment(await readState(session), source, session.topics.controlModels);
  const target = rollbackTarget(await readTrail(session), source);
  if (!target) {
    throw new CliError(
      ExitCodes.FAILED,
      `nothing to roll back to: the audit trail of ${source} has no serving version before ${refText(previous.serving)}`,
    );
  }
  const at = target.lastIndexOf('@');
  const ref = await storeVersion(context, options, target.slice(0, at), target.slice(at + 1));
  const { source: _, ...serving } = ref;
  return change(context, options, { source, action: 'model.rollback', previous, serving, candidate: null });
}

/** The change that makes a store version the shadow or canary candidate of its source. */
async function candidateChange(
  context: CommandContext,
  name: string,
  version: string,
  options: StoreOptions & { share?: number },
  mode: CandidateRef['mode'],
): Promise<DeploymentChange> {
  const ref = await storeVersion(context, options, name, version);
  const session = context.session();
  await prepareTopics(session);
  const previous = requireDeployment(await readState(session), ref.source, session.topics.controlModels);
  if (previous.serving.name === ref.name && previous.serving.version === ref.version) {
    throw new CliError(
      ExitCodes.REFUSED,
      `refused: ${refText(ref)} is the serving version of ${ref.source}, not a candidate`,
    );
  }
  const { source, ...model } = ref;
  return {
    source,
    action: mode === 'shadow' ? 'model.shadow' : 'model.canary',
    previous,
    serving: previous.serving,
    candidate: { ...model, mode, ...(mode === 'canary' ? { share: options.share } : {}) },
  };
}

async function candidate(
  context: CommandContext,
  name: string,
  version: string,
  options: ChangeOptions & { share?: number },
  mode: CandidateRef['mode'],
) {
  return change(context, options, await candidateChange(context, name, version, options, mode));
}

/**
 * What `patternflow model shadow` writes, for a command that makes a candidate itself (model
 * retrain): the same checks (the version verifies in the store, the source has a deployment,
 * the version is not its serving one), the same record and audit entry; prints nothing.
 */
export async function registerShadowCandidate(
  context: CommandContext,
  name: string,
  version: string,
  options: StoreOptions & Pick<ChangeOptions, 'reason' | 'who'>,
): Promise<{ deployment: ModelDeployment; audit: AuditEntry; previous: ModelDeployment | undefined }> {
  const what = await candidateChange(context, name, version, options, 'shadow');
  const { deployment, audit } = await writeChange(context, options, what);
  return { deployment, audit, previous: what.previous };
}

/** The deployment of `source` on the models control topic, or undefined when no tagger has seeded one yet. */
export async function deploymentOf(
  context: CommandContext,
  source: string,
): Promise<ModelDeployment | undefined> {
  return (await readState(context.session())).deployments.get(source);
}

async function clearCandidate(context: CommandContext, source: string, options: ChangeOptions) {
  const session = context.session();
  const previous = requireDeployment(await readState(session), source, session.topics.controlModels);
  if (!previous.candidate) throw new CliError(ExitCodes.REFUSED, `refused: ${source} has no candidate`);
  return change(context, options, {
    source,
    action: 'model.clear-candidate',
    previous,
    serving: previous.serving,
    candidate: null,
  });
}

async function show(context: CommandContext): Promise<ExitCode> {
  const { io } = context;
  const session = context.session();
  const state = await readState(session);
  const live = new Set(
    await kafkaCall(
      liveFollowers(await session.admin(), modelReplicaGroupPrefix(session.groupIdOf('inference-tagger'))),
    ),
  );
  const deployments = [...state.deployments.values()].sort((a, b) => (a.source < b.source ? -1 : 1));
  const replicas = [...new Set([...live, ...state.acks.keys()])].sort().map((replica) => {
    const ack: ModelReplicaAck | undefined = state.acks.get(replica);
    return { replica, running: live.has(replica), at: ack?.at ?? null, sources: ack?.sources ?? {} };
  });
  if (context.json()) {
    printJson(io, { topic: session.topics.controlModels, deployments, replicas });
    return deployments.length > 0 ? ExitCodes.OK : ExitCodes.FAILED;
  }
  if (deployments.length === 0) {
    io.out(`no deployment on ${session.topics.controlModels}: the first tagger replica seeds it`);
    return ExitCodes.FAILED;
  }
  io.out(
    formatTable(deployments, [
      { header: 'SOURCE', value: (d) => d.source },
      { header: 'SERVING', value: (d) => `${refText(d.serving)} (${d.serving.sha256.slice(0, 12)})` },
      {
        header: 'CANDIDATE',
        value: (d) =>
          d.candidate
            ? `${refText(d.candidate)} ${d.candidate.mode}${d.candidate.share ? ` ${d.candidate.share}` : ''}`
            : '',
      },
      { header: 'SINCE', value: (d) => d.at },
      { header: 'BY', value: (d) => d.who },
      { header: 'REASON', value: (d) => d.reason },
    ]),
  );
  io.out('');
  const rows = replicas.flatMap((r) =>
    deployments.map((d) => {
      const ack = r.sources[d.source];
      const current = ack?.id === d.id;
      return {
        replica: r.replica,
        running: r.running ? 'yes' : 'no (stale acknowledgement)',
        source: d.source,
        labels: ack
          ? `${ack.status === 'rejected' ? `refused the deployment, kept ${refText(ack.serving)}: ${ack.detail}` : refText(ack.serving)}${current ? '' : ' (not yet the deployment in force)'}`
          : 'unknown',
      };
    }),
  );
  io.out(
    rows.length === 0
      ? 'tagger replicas: none runs'
      : formatTable(rows, [
          { header: 'tagger replica', value: (r) => r.replica },
          { header: 'running', value: (r) => r.running },
          { header: 'source', value: (r) => r.source },
          { header: 'labels with', value: (r) => r.labels },
        ]),
  );
  return ExitCodes.OK;
}

async function history(
  context: CommandContext,
  options: { source?: string; limit: number },
): Promise<ExitCode> {
  const session = context.session();
  const entries: AuditEntry[] = (await readTrail(session))
    .filter((e) =>
      options.source ? e.subject === `model:${options.source}` : e.subject.startsWith('model:'),
    )
    .reverse()
    .slice(0, options.limit);
  return printAuditHistory(context, entries, { what: 'model', showSubject: true });
}

const positiveInteger = (what: string) => (raw: string) => {
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new InvalidArgumentError(`${what} must be a positive integer`);
  return value;
};
const share = (raw: string) => {
  const value = Number(raw);
  if (!validShare(value)) throw new InvalidArgumentError('--share must be a number in (0, 1], e.g. 0.1');
  return value;
};

function changeOptions(command: Command): Command {
  return command
    .requiredOption('--reason <text>', 'why (kept in the audit trail)')
    .option('--who <name>', 'who changes it (default: $USER@hostname)')
    .option('--wait', 'wait until every running tagger replica labels with it')
    .option('--timeout <seconds>', 'how long --wait waits', positiveInteger('--timeout'), 60)
    .option(
      '--store <dir>',
      "the model store the version is checked in (default: $PF_MODELS_DIR, else the repo's models/)",
    )
    .option(
      '--public-key <pem>',
      "the trusted Ed25519 public key (default: $PF_MODEL_PUBLIC_KEY, else the repo's DEV key)",
    );
}

/** Adds the deployment subcommands to `patternflow model`. */
export function registerModelDeployCommands(model: Command, context: CommandContext): void {
  changeOptions(
    model
      .command('promote')
      .description(
        'make a version the serving one of its source (the candidate is cleared); every tagger replica swaps to it between two micro-batches',
      )
      .argument('<name>', 'model name')
      .argument('<version>', 'version in the store'),
  ).action(
    context.action((name: string, version: string, o: ChangeOptions) => promote(context, name, version, o)),
  );
  changeOptions(
    model
      .command('rollback')
      .description(
        'serve the version that served before the current one (from the audit trail); the candidate is cleared',
      )
      .argument('<source>', 'the source whose model rolls back'),
  ).action(context.action((source: string, o: ChangeOptions) => rollback(context, source, o)));
  changeOptions(
    model
      .command('shadow')
      .description(
        "run a version beside the serving one on the same micro-batches: its label is recorded in each record's inference.shadow and compared, never routed",
      )
      .argument('<name>', 'model name')
      .argument('<version>', 'version in the store'),
  ).action(
    context.action((name: string, version: string, o: ChangeOptions) =>
      candidate(context, name, version, o, 'shadow'),
    ),
  );
  changeOptions(
    model
      .command('canary')
      .description(
        'let a version label and route a share of the records (a stable hash of the record id: a replay gets the same model)',
      )
      .argument('<name>', 'model name')
      .argument('<version>', 'version in the store')
      .requiredOption('--share <fraction>', 'the share of records, in (0, 1]', share),
  ).action(
    context.action((name: string, version: string, o: ChangeOptions & { share: number }) =>
      candidate(context, name, version, o, 'canary'),
    ),
  );
  changeOptions(
    model
      .command('clear-candidate')
      .description('stop the shadow or canary candidate of a source')
      .argument('<source>', 'source'),
  ).action(context.action((source: string, o: ChangeOptions) => clearCandidate(context, source, o)));
  model
    .command('show')
    .description(
      'the deployment of each source (serving version, candidate, who and why) and what each tagger replica labels with',
    )
    .action(context.action(() => show(context)));
  model
    .command('history')
    .description('the audit trail of model deployments, newest first')
    .option('--source <source>', 'only this source')
    .option('--limit <n>', 'at most this many entries', positiveInteger('--limit'), 20)
    .action(context.action((o: { source?: string; limit: number }) => history(context, o)));
}
