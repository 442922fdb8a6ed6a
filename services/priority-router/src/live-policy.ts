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
  type PolicyRecord,
  policyChange,
  policyOfRecord,
  type ReplicaAck,
  replicaGroupPrefix,
  sha256Of,
} from '@patternflow/control';
import {
  type ControlMessage,
  ensureTopics,
  followTopic,
  type Kafka,
  kafkaFailure,
  openTransactionalWriter,
} from '@patternflow/kafka';
import type { Logger } from '@patternflow/observability';
import { layoutChange, loadPolicy, type Policy } from '@patternflow/policy';
import type { TopicNames } from '@patternflow/records';
import type { PolicyMetrics } from './metrics.ts';

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

interface InForce {
  readonly policy: Policy;
  readonly sha256: string;
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

  const writer = openTransactionalWriter({
    kafka,
    transactionalId: `${replicaGroupPrefix(deps.groupId)}${replica}`,
  });
  // Control writes are rare and ordered: one after the other, never failing the routing.
  let writes: Promise<void> = Promise.resolve();
  const write = (messages: ControlMessage[], what: string): Promise<void> => {
    writes = writes.then(() =>
      writer.write(messages).catch((error: unknown) => {
        logger.warn({ err: error, what }, 'could not write to the control topic');
      }),
    );
    return writes;
  };
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

  let inForce: InForce | undefined;
  const startState = emptyControlState();
  const setInForce = (next: InForce) => {
    if (inForce) metrics.info.remove({ version: inForce.policy.version, sha256: inForce.sha256 });
    metrics.info.set({ version: next.policy.version, sha256: next.sha256 }, 1);
    inForce = next;
  };

  const consider = (record: PolicyRecord) => {
    const current = inForce as InForce;
    if (record.sha256 === current.sha256) return; // what we route by already (our own seed, a replay)
    const refuse = (detail: string) => {
      metrics.updates.inc({ result: 'rejected' });
      logger.error(
        {
          version: record.version,
          sha256: record.sha256,
          by: record.applied_by,
          kept: current.policy.version,
          detail,
        },
        'refused a routing policy update; routing by the policy in force until a valid one arrives',
      );
      void acknowledge(
        'rejected',
        record.version,
        record.sha256,
        `kept ${current.policy.version}: ${detail}`,
      );
    };
    if (record.version === current.policy.version) {
      refuse(
        `version ${record.version} is the version in force, with other content: bump version on every change`,
      );
      return;
    }
    let policy: Policy;
    try {
      policy = policyOfRecord(record);
    } catch (error) {
      refuse(error instanceof Error ? error.message : String(error));
      return;
    }
    const change = layoutChange(current.policy, policy);
    if (change !== undefined) {
      refuse(`the lane layout changed (${change}): lanes and sinks change only with a redeploy`);
      return;
    }
    const from = current.policy.version;
    // The handler reads the policy once per batch: a batch in flight finishes on `from`, the
    // next one starts on the new version, and every record names the version that routed it.
    setInForce({ policy, sha256: record.sha256 });
    metrics.updates.inc({ result: 'applied' });
    logger.info(
      { from, to: policy.version, sha256: record.sha256, by: record.applied_by, reason: record.reason },
      'routing policy swapped',
    );
    void acknowledge('in-force', policy.version, record.sha256);
  };

  let live = false;
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
      if (!live) applyControlRecord(startState, decoded);
      else if (decoded.type === 'policy') consider(decoded.record);
    },
  });

  try {
    await follower.caughtUp;
    const latest = startState.policy;
    if (latest) {
      // An invalid policy in force stops the start (PF_POLICY_INVALID), as a bad file would.
      setInForce({ policy: policyOfRecord(latest), sha256: latest.sha256 });
      live = true;
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
      setInForce({ policy, sha256: sha256Of(yaml) });
      live = true;
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
  const started = inForce as InForce;
  void acknowledge('in-force', started.policy.version, started.sha256);

  return {
    current: () => (inForce as InForce).policy,
    replica,
    failed: follower.failed,
    async stop() {
      await write([ackRemoval(topics, replica)], 'acknowledgement removal');
      await follower.stop();
      await writer.close();
    },
  };
}
