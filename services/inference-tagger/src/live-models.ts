/**
 * The model deployments a tagger replica labels with, kept current without a restart. At
 * start the replica reads patterns.control.models to its end: a source's deployment record
 * names its serving version (and candidate); a source without one serves the version chosen
 * from the store (PF_MODEL_VERSIONS pins, else the highest), and the replica seeds the topic
 * with it. Then it follows the topic: a new deployment is loaded and verified off the hot path
 * (signature, manifest, sha256 — which must be the one the record pins) and only then swapped
 * in, between two micro-batches; a version that does not load is refused (the acknowledgement
 * says why) and the replica keeps labelling with what it has. Versions no longer deployed are
 * released once the micro-batches that started before the swap have finished.
 */

import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  applyModelControlRecord,
  type CandidateRef,
  decodeModelControlRecord,
  deploymentChange,
  emptyModelControlState,
  liveFollowers,
  type ModelDeployment,
  type ModelRef,
  modelAckMessage,
  modelAckRemoval,
  modelControlTopicSpecs,
  modelReplicaGroupPrefix,
  openReplicaWriter,
  refText,
  type SourceAck,
  sameDeployment,
} from '@patternflow/control';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { type ControlMessage, ensureTopics, followTopic, type Kafka, kafkaFailure } from '@patternflow/kafka';
import {
  chooseServingVersions,
  type LoadedModelVersion,
  listModelVersions,
  loadModelVersion,
  type ModelInfo,
  type StoreEntry,
  type VersionPin,
} from '@patternflow/models';
import type { Logger } from '@patternflow/observability';
import type { TopicNames } from '@patternflow/records';
import type { Deployed, DeploymentSnapshot } from './deployments.ts';
import type { ModelMetrics } from './model-metrics.ts';

export interface LiveModels {
  /** Runs `work` on the deployments in force now; a swap waits for it before releasing what it used. */
  withSnapshot<T>(work: (snapshot: DeploymentSnapshot) => Promise<T>): Promise<T>;
  hasModel(source: string): boolean;
  /** The serving version (and candidate) of each source now, for logs. */
  inForce(): { name: string; version: string; source: string; sha256: string; candidate: string | null }[];
  /** What the signed manifest of a loaded version says (features, labels, drift reference). */
  modelInfo(name: string, version: string): ModelInfo | undefined;
  /** The store index at start: every version, verified or why not. */
  readonly store: readonly StoreEntry[];
  readonly replica: string;
  /** Settles when following the control topic failed for good. */
  readonly failed: Promise<Error>;
  /** Removes the acknowledgement, stops following, releases every session. */
  stop(): Promise<void>;
}

const refOf = (model: LoadedModelVersion): ModelRef => ({
  name: model.info.name,
  version: model.info.version,
  sha256: model.info.sha256,
});

const candidateRefOf = (deployed: Deployed): CandidateRef | null =>
  deployed.candidate
    ? {
        ...refOf(deployed.candidate.model),
        mode: deployed.candidate.mode,
        ...(deployed.candidate.share === undefined ? {} : { share: deployed.candidate.share }),
      }
    : null;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function startLiveModels(deps: {
  kafka: Kafka;
  topics: TopicNames;
  /** The tagger's consumer group: follower groups are named after it. */
  groupId: string;
  store: string;
  publicKey: KeyObject;
  pins: readonly VersionPin[];
  intraOpThreads: number;
  logger: Logger;
  metrics: ModelMetrics;
  replica?: string;
}): Promise<LiveModels> {
  const { kafka, topics, logger, metrics } = deps;
  const replica = deps.replica ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const followerGroup = `${modelReplicaGroupPrefix(deps.groupId)}${replica}`;
  try {
    await ensureTopics(kafka, modelControlTopicSpecs(topics));
  } catch (error) {
    throw kafkaFailure(error) ?? error;
  }
  const writer = openReplicaWriter({
    kafka,
    transactionalId: followerGroup,
    logger,
    topic: 'the models control topic',
  });
  const write = writer.write;
  const acks: Record<string, SourceAck> = {};
  const acknowledge = () =>
    write(
      [
        modelAckMessage(topics, {
          kind: 'model-ack',
          replica,
          at: new Date().toISOString(),
          sources: { ...acks },
        }),
      ],
      'acknowledgement',
    );

  // Loaded versions by name@version: a version deployed twice (serving here, candidate there) loads once.
  const loaded = new Map<string, LoadedModelVersion>();
  const load = async (ref: ModelRef, source: string): Promise<LoadedModelVersion> => {
    const key = refText(ref);
    let model = loaded.get(key);
    if (!model) {
      model = await loadModelVersion(deps.store, ref.name, ref.version, deps.publicKey, {
        intraOpThreads: deps.intraOpThreads,
      });
      loaded.set(key, model);
    }
    if (model.info.sha256 !== ref.sha256) {
      throw new PipelineError(
        ErrorCodes.MODEL_INTEGRITY,
        `${key}: the deployment pins model sha256 ${ref.sha256}, the store's signed manifest says ${model.info.sha256}`,
        { details: { model: key } },
      );
    }
    if (model.info.source !== source) {
      throw new PipelineError(
        ErrorCodes.MODEL_LOAD,
        `${key} serves source "${model.info.source}", the deployment is for "${source}"`,
        { details: { model: key } },
      );
    }
    return model;
  };
  const loadDeployment = async (
    deployment: Pick<ModelDeployment, 'id' | 'source' | 'serving' | 'candidate'>,
  ): Promise<Deployed> => {
    const serving = await load(deployment.serving, deployment.source);
    const c = deployment.candidate;
    return {
      id: deployment.id,
      serving,
      candidate: c
        ? {
            model: await load(c, deployment.source),
            mode: c.mode,
            ...(c.share === undefined ? {} : { share: c.share }),
          }
        : null,
    };
  };

  let table: DeploymentSnapshot = new Map();
  const inflight = new Set<Promise<unknown>>();
  const releaseUnused = async () => {
    const used = new Set<LoadedModelVersion>();
    for (const d of table.values()) {
      used.add(d.serving);
      if (d.candidate) used.add(d.candidate.model);
    }
    for (const [key, model] of loaded) {
      if (used.has(model)) continue;
      loaded.delete(key);
      await model
        .release()
        .catch((error: unknown) => logger.warn({ err: error, model: key }, 'could not release a model'));
    }
  };
  const show = (source: string, deployed: Deployed) => {
    metrics.deployed(
      source,
      deployed.serving.info,
      deployed.candidate ? { info: deployed.candidate.model.info, mode: deployed.candidate.mode } : null,
    );
    acks[source] = {
      id: deployed.id,
      status: 'in-force',
      serving: refOf(deployed.serving),
      candidate: candidateRefOf(deployed),
    };
  };

  /** One deployment record after the start: applied, adopted (same content) or refused. */
  const apply = async (deployment: ModelDeployment) => {
    const { source } = deployment;
    const current = table.get(source);
    if (
      current &&
      sameDeployment({ serving: refOf(current.serving), candidate: candidateRefOf(current) }, deployment)
    ) {
      const adopted: Deployed = { ...current, id: deployment.id };
      table = new Map(table).set(source, adopted);
      show(source, adopted);
      await acknowledge();
      return;
    }
    const started = process.hrtime.bigint();
    let next: Deployed;
    try {
      next = await loadDeployment(deployment);
    } catch (error) {
      await releaseUnused();
      const kept = current ? refText(refOf(current.serving)) : 'nothing';
      logger.error(
        {
          source,
          deployment: deployment.id,
          serving: refText(deployment.serving),
          by: deployment.who,
          kept,
          err: error,
        },
        'refused a model deployment; labelling with the versions in force',
      );
      acks[source] = {
        id: deployment.id,
        status: 'rejected',
        serving: current ? refOf(current.serving) : deployment.serving,
        candidate: current ? candidateRefOf(current) : null,
        detail: `kept ${kept}: ${message(error)}`,
      };
      await acknowledge();
      return;
    }
    const loadMs = Number(process.hrtime.bigint() - started) / 1e6;
    // The swap: micro-batches that already took their snapshot finish on the old versions.
    const before = [...inflight];
    table = new Map(table).set(source, next);
    show(source, next);
    logger.info(
      {
        source,
        deployment: deployment.id,
        from: current ? refText(refOf(current.serving)) : null,
        serving: refText(deployment.serving),
        candidate: deployment.candidate
          ? `${refText(deployment.candidate)} (${deployment.candidate.mode})`
          : null,
        by: deployment.who,
        reason: deployment.reason,
        loadMs: Math.round(loadMs * 10) / 10,
      },
      'model deployment swapped',
    );
    await acknowledge();
    await Promise.allSettled(before);
    await releaseUnused();
  };

  const startState = emptyModelControlState();
  let startOffset = -1n;
  let started = false;
  let applying: Promise<void> = Promise.resolve();
  const follower = followTopic({
    kafka,
    topic: topics.controlModels,
    groupId: followerGroup,
    logger,
    onRecord: (inbound) => {
      const decoded = decodeModelControlRecord(inbound);
      if (decoded.type === 'invalid') {
        logger.warn(
          { offset: inbound.offset, key: decoded.key, problem: decoded.problem },
          'ignoring an invalid model control record',
        );
      }
      const offset = BigInt(inbound.offset);
      if (offset <= startOffset) return; // read again after a reconnect: already applied
      startOffset = offset;
      if (!started) applyModelControlRecord(startState, decoded);
      else if (decoded.type === 'deployment') {
        const { deployment } = decoded;
        applying = applying.then(() =>
          apply(deployment).catch((error: unknown) =>
            logger.error({ err: error }, 'applying a model deployment failed'),
          ),
        );
      }
    },
  });

  let entries: StoreEntry[];
  const seeds: ControlMessage[] = [];
  try {
    await follower.caughtUp;
    entries = await listModelVersions(deps.store, deps.publicKey);
    const chosen = chooseServingVersions(entries, deps.pins);
    const sources = [...new Set([...chosen.keys(), ...startState.deployments.keys()])].sort();
    const start = new Map<string, Deployed>();
    for (const source of sources) {
      const deployment = startState.deployments.get(source);
      if (deployment) {
        // The serving version in force must load, as a chosen one must: else the start stops here.
        const serving = await load(deployment.serving, source);
        let candidate: Deployed['candidate'] = null;
        if (deployment.candidate) {
          try {
            candidate = (await loadDeployment(deployment)).candidate;
          } catch (error) {
            logger.error(
              { source, candidate: refText(deployment.candidate), err: error },
              'the candidate in force does not load: serving without it',
            );
          }
        }
        start.set(source, { id: deployment.id, serving, candidate });
        logger.info(
          {
            source,
            serving: refText(deployment.serving),
            candidate: deployment.candidate ? refText(deployment.candidate) : null,
            by: deployment.who,
            at: deployment.at,
          },
          'serving the deployment in force on the models control topic',
        );
        continue;
      }
      const entry = chosen.get(source)!;
      // A version that does not verify throws here (PF_MODEL_SIGNATURE, …) and stops the start.
      const serving = await load(
        { name: entry.name, version: entry.version, sha256: entry.sha256 ?? '' },
        source,
      );
      const change = deploymentChange({
        topics,
        source,
        serving: refOf(serving),
        candidate: null,
        previous: undefined,
        action: 'model.seed',
        who: `inference-tagger@${hostname()}`,
        reason: `seed: the models control topic held no deployment of ${source}; ${entry.name}@${entry.version} is the store's choice (PF_MODEL_VERSIONS, else the highest version)`,
      });
      seeds.push(...change.messages);
      start.set(source, { id: change.deployment.id, serving, candidate: null });
    }
    table = start;
    for (const [source, deployed] of table) show(source, deployed);
    started = true;
  } catch (error) {
    await follower.stop();
    await writer.close();
    await Promise.all([...loaded.values()].map((m) => m.release()));
    throw error;
  }
  if (seeds.length > 0) await write(seeds, 'seed');
  await acknowledge();
  // Deployments written while this replica was loading its start versions.
  for (const deployment of startState.deployments.values()) {
    if (table.get(deployment.source)?.id !== deployment.id) {
      applying = applying.then(() =>
        apply(deployment).catch((error: unknown) =>
          logger.error({ err: error }, 'applying a model deployment failed'),
        ),
      );
    }
  }

  // Acknowledgements of replicas that no longer run (killed: a clean stop removes its own).
  void (async () => {
    const others = [...startState.acks.keys()].filter((r) => r !== replica);
    if (others.length === 0) return;
    const admin = kafka.admin();
    try {
      await admin.connect();
      const live = new Set(await liveFollowers(admin, modelReplicaGroupPrefix(deps.groupId)));
      const stale = others.filter((r) => !live.has(r));
      if (stale.length > 0)
        await write(
          stale.map((r) => modelAckRemoval(topics, r)),
          'stale acknowledgements',
        );
    } catch (error) {
      logger.warn(
        { err: error },
        'could not look for acknowledgements of tagger replicas that no longer run',
      );
    } finally {
      await admin.disconnect().catch(() => {});
    }
  })();

  return {
    withSnapshot(work) {
      const running = work(table);
      inflight.add(running);
      const forget = () => inflight.delete(running);
      running.then(forget, forget);
      return running;
    },
    hasModel: (source) => table.has(source),
    modelInfo: (name, version) => loaded.get(refText({ name, version }))?.info,
    inForce: () =>
      [...table].map(([source, d]) => ({
        ...refOf(d.serving),
        source,
        candidate: d.candidate ? `${refText(refOf(d.candidate.model))} (${d.candidate.mode})` : null,
      })),
    store: entries,
    replica,
    failed: follower.failed,
    async stop() {
      await write([modelAckRemoval(topics, replica)], 'acknowledgement removal');
      await follower.stop();
      await applying;
      await writer.close();
      await Promise.allSettled([...inflight]);
      await Promise.all([...loaded.values()].map((m) => m.release().catch(() => {})));
      loaded.clear();
    },
  };
}
