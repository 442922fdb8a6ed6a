/**
 * The routing policy a router replica routes by, kept current without a restart. At start
 * the replica reads the control topic (patterns.control.policy) to its end: its latest policy
 * record is the policy in force; when there is none, PF_POLICY_FILE seeds the topic. Then it
 * follows the topic: a new policy record is validated again here, must keep the lane layout
 * the replica's outputs were built for, and then replaces the policy between two batches.
 * The replica acknowledges what it routes by under its own key (`ack/<replica>`), which
 * `patternflow policy apply --wait` reads.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  ackMessage,
  ackRemoval,
  applyControlRecord,
  type ControlRecord,
  controlTopicSpecs,
  decodeControlRecord,
  emptyControlState,
  liveReplicas,
  openReplicaWriter,
  type PolicyRecord,
  policyChange,
  policyOfRecord,
  type ReplicaAck,
  replicaGroupPrefix,
  sha256Of,
} from '@patternflow/control';
import { ensureTopics, followTopic, type Kafka, kafkaFailure } from '@patternflow/kafka';
import type { Logger } from '@patternflow/observability';
import { loadPolicy, type Policy } from '@patternflow/policy';
import type { TopicNames } from '@patternflow/records';
import type { PolicyMetrics } from './metrics.ts';
import { createPolicyUpdates, type InForce, type PolicyUpdates } from './policy-updates.ts';

export interface LivePolicy {
  /** The policy to route the next batch by: read it once per batch. */
  current(): Policy;
  /** This replica's id, in its acknowledgements and its follower group's name. */
  readonly replica: string;
  /** Settles when following the control topic failed for good (the replica would go stale). */
  readonly failed: Promise<Error>;
  /** Removes the acknowledgement, stops following, deletes the follower group. */
  stop(): Promise<void>;
}

export async function startLivePolicy(deps: {
  kafka: Kafka;
  topics: TopicNames;
  /** The router's consumer group: follower groups are named after it. */
  groupId: string;
  seedFile: string;
  logger: Logger;
  metrics: PolicyMetrics;
  replica?: string;
}): Promise<LivePolicy> {
  const { kafka, topics, logger, metrics } = deps;
  const replica = deps.replica ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const who = `priority-router@${hostname()}`;
  try {
    await ensureTopics(kafka, controlTopicSpecs(topics));
  } catch (error) {
    throw kafkaFailure(error) ?? error; // unreachable Kafka is a reason to build again, not to exit
  }

  // Control writes are rare and ordered: one after the other, never failing the routing.
  const writer = openReplicaWriter({
    kafka,
    transactionalId: `${replicaGroupPrefix(deps.groupId)}${replica}`,
    logger,
    topic: 'the control topic',
  });
  const write = writer.write;
  const acknowledge = (status: ReplicaAck['status'], version: string, sha256: string, detail?: string) =>
    write(
      [
        ackMessage(topics, {
          kind: 'ack',
          replica,
          status,
          version,
          sha256,
          ...(detail === undefined ? {} : { detail }),
          at: new Date().toISOString(),
        }),
      ],
      `acknowledgement (${status} ${version})`,
    );

  /**
   * The acknowledgements of replicas that no longer run (killed: a clean stop removes its own),
   * so that they do not pile up in the compacted topic: one key per replica ever started.
   */
  const removeStaleAcknowledgements = async (replicas: readonly string[]) => {
    if (replicas.length === 0) return;
    const admin = kafka.admin();
    try {
      await admin.connect();
      const live = new Set(await liveReplicas(admin, deps.groupId));
      const stale = replicas.filter((r) => !live.has(r));
      if (stale.length > 0) {
        await write(
          stale.map((r) => ackRemoval(topics, r)),
          `removal of ${stale.length} acknowledgement(s) of replicas that no longer run`,
        );
      }
    } catch (error) {
      logger.warn({ err: error }, 'could not look for acknowledgements of replicas that no longer run');
    } finally {
      await admin.disconnect().catch(() => {});
    }
  };

  // Until the topic was read to its end, records only build the start state; then `updates` decides.
  const startState = emptyControlState();
  let startOffset = -1n;
  let updates: PolicyUpdates | undefined;
  const showInForce = (previous: InForce | undefined, next: InForce) => {
    if (previous) metrics.info.remove({ version: previous.policy.version, sha256: previous.sha256 });
    metrics.info.set({ version: next.policy.version, sha256: next.sha256 }, 1);
  };

  const offer = (offset: bigint, record: PolicyRecord) => {
    const outcome = (updates as PolicyUpdates).offer(offset, record);
    if (outcome.kind === 'rejected') {
      metrics.updates.inc({ result: 'rejected' });
      logger.error(
        {
          version: record.version,
          sha256: record.sha256,
          by: record.applied_by,
          kept: outcome.current.policy.version,
          detail: outcome.detail,
        },
        'refused a routing policy update; routing by the policy in force until a valid one arrives',
      );
      void acknowledge(
        'rejected',
        record.version,
        record.sha256,
        `kept ${outcome.current.policy.version}: ${outcome.detail}`,
      );
    } else if (outcome.kind === 'applied') {
      // The handler reads the policy once per batch: a batch in flight finishes on the old
      // version, the next one starts on the new one, and every record names the version that routed it.
      showInForce(outcome.from, outcome.to);
      metrics.updates.inc({ result: 'applied' });
      logger.info(
        {
          from: outcome.from.policy.version,
          to: outcome.to.policy.version,
          sha256: record.sha256,
          by: record.applied_by,
          reason: record.reason,
        },
        'routing policy swapped',
      );
      void acknowledge('in-force', outcome.to.policy.version, record.sha256);
    }
  };

  const follower = followTopic({
    kafka,
    topic: topics.controlPolicy,
    groupId: `${replicaGroupPrefix(deps.groupId)}${replica}`,
    logger,
    onRecord: (inbound) => {
      const decoded: ControlRecord = decodeControlRecord(inbound);
      if (decoded.type === 'invalid') {
        logger.warn(
          { offset: inbound.offset, key: decoded.key, problem: decoded.problem },
          'ignoring an invalid control record',
        );
      }
      const offset = BigInt(inbound.offset);
      if (updates) {
        if (decoded.type === 'policy') offer(offset, decoded.record);
      } else if (offset > startOffset) {
        applyControlRecord(startState, decoded);
        startOffset = offset;
      }
    },
  });

  try {
    await follower.caughtUp;
    const latest = startState.policy;
    if (latest) {
      // An invalid policy in force stops the start (PF_POLICY_INVALID), as a bad file would.
      updates = createPolicyUpdates({ policy: policyOfRecord(latest), sha256: latest.sha256 }, startOffset);
      logger.info(
        {
          version: latest.version,
          by: latest.applied_by,
          at: latest.applied_at,
          ignoredSeedFile: deps.seedFile,
        },
        'routing by the policy in force from the control topic; PF_POLICY_FILE is only the seed of an empty topic',
      );
    } else {
      const yaml = readFileSync(deps.seedFile, 'utf8');
      const policy = loadPolicy(deps.seedFile);
      // Our seed comes back through the follower with the same sha256: ignored.
      updates = createPolicyUpdates({ policy, sha256: sha256Of(yaml) }, startOffset);
      logger.info(
        { version: policy.version, seedFile: deps.seedFile },
        'the control topic holds no policy: seeding it from PF_POLICY_FILE',
      );
      await write(
        policyChange({
          topics,
          yaml,
          policy,
          who,
          reason: `seed from PF_POLICY_FILE ${deps.seedFile}: the control topic held no policy`,
          previous: undefined,
          action: 'policy.seed',
        }).messages,
        'seed',
      );
    }
  } catch (error) {
    await follower.stop();
    await writer.close();
    throw error;
  }
  const started = updates.current();
  showInForce(undefined, started);
  void acknowledge('in-force', started.policy.version, started.sha256);
  void removeStaleAcknowledgements([...startState.acks.keys()].filter((r) => r !== replica));

  return {
    current: () => (updates as PolicyUpdates).current().policy,
    replica,
    failed: follower.failed,
    async stop() {
      await write([ackRemoval(topics, replica)], 'acknowledgement removal');
      await follower.stop();
      await writer.close();
    },
  };
}
