/** Reading the control plane: the policy in force, the replicas' acknowledgements, the audit trail. */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { type ControlMessage, type Kafka, readTopicToEnd } from '@patternflow/kafka';
import type { Logger } from '@patternflow/observability';
import { loadPolicy, type Policy, parsePolicy } from '@patternflow/policy';
import type { TopicNames } from '@patternflow/records';
import {
  ACK_KEY_PREFIX,
  type AuditEntry,
  type ControlRecord,
  decodeAuditEntry,
  decodeControlRecord,
  POLICY_KEY,
  POLICY_SUBJECT,
  type PolicyRecord,
  type ReplicaAck,
  sha256Of,
} from './records.ts';

/** What the control topic says, as of the last record read. */
export interface ControlState {
  policy: PolicyRecord | undefined;
  /** By replica id; a replica that stopped cleanly has removed its own. */
  readonly acks: Map<string, ReplicaAck>;
}

export const emptyControlState = (): ControlState => ({ policy: undefined, acks: new Map() });

/** Folds one control record into the state (later records win, as compaction would keep them). */
export function applyControlRecord(state: ControlState, record: ControlRecord): void {
  switch (record.type) {
    case 'policy':
      state.policy = record.record;
      return;
    case 'ack':
      state.acks.set(record.ack.replica, record.ack);
      return;
    case 'tombstone':
      if (record.key.startsWith(ACK_KEY_PREFIX)) state.acks.delete(record.key.slice(ACK_KEY_PREFIX.length));
      return;
    case 'invalid':
      return;
  }
}

interface ReadOptions {
  kafka: Kafka;
  topics: TopicNames;
  /** A group of this read alone (deleted afterwards). */
  groupId: string;
  logger: Logger;
  timeoutMs?: number;
}

/** The control topic read once, to its end. A topic that does not exist yet reads as empty. */
export async function readControlState(options: ReadOptions): Promise<ControlState> {
  const state = emptyControlState();
  const records = await readTopicToEnd({
    kafka: options.kafka,
    topic: options.topics.controlPolicy,
    groupId: options.groupId,
    logger: options.logger,
    ...(options.timeoutMs === undefined ? {} : { catchUpTimeoutMs: options.timeoutMs }),
  });
  for (const record of records) {
    const decoded = decodeControlRecord(record);
    if (decoded.type === 'invalid') {
      options.logger.warn({ offset: record.offset, ...decoded }, 'ignoring an invalid control record');
    }
    applyControlRecord(state, decoded);
  }
  return state;
}

/** The audit trail, oldest first. */
export async function readAuditTrail(options: ReadOptions): Promise<AuditEntry[]> {
  const records = await readTopicToEnd({
    kafka: options.kafka,
    topic: options.topics.audit,
    groupId: options.groupId,
    logger: options.logger,
    ...(options.timeoutMs === undefined ? {} : { catchUpTimeoutMs: options.timeoutMs }),
  });
  return records.flatMap((record) => decodeAuditEntry(record.value) ?? []);
}

/** The policy a control record carries, validated again by whoever reads it (PF_POLICY_INVALID otherwise). */
export function policyOfRecord(record: PolicyRecord): Policy {
  const policy = parsePolicy(record.yaml, `the policy record of version ${record.version}`);
  if (policy.version !== record.version) {
    throw new PipelineError(
      ErrorCodes.POLICY_INVALID,
      `the policy record says version ${record.version}, its text says ${policy.version}`,
    );
  }
  return policy;
}

export interface PolicyInForce {
  readonly policy: Policy;
  /** The control record it came from; undefined when the topic held none and the seed file was used. */
  readonly record: PolicyRecord | undefined;
  readonly state: ControlState;
}

/**
 * The policy a stage starts with: the control topic's when it holds one (the seed file is
 * then not read at all), else the seed file (PF_POLICY_FILE).
 */
export async function readPolicyInForce(options: ReadOptions & { seedFile: string }): Promise<PolicyInForce> {
  const state = await readControlState(options);
  if (state.policy) return { policy: policyOfRecord(state.policy), record: state.policy, state };
  return { policy: loadPolicy(options.seedFile), record: undefined, state };
}

/**
 * The two records of a policy change, for one transaction: the new policy in force and its
 * audit entry. Neither is ever visible without the other.
 */
export function policyChange(options: {
  topics: TopicNames;
  yaml: string;
  policy: Policy;
  who: string;
  reason: string;
  previous: PolicyRecord | undefined;
  action: 'policy.apply' | 'policy.seed';
  now?: Date;
}): { record: PolicyRecord; audit: AuditEntry; messages: ControlMessage[] } {
  const at = (options.now ?? new Date()).toISOString();
  const sha256 = sha256Of(options.yaml);
  const previousVersion = options.previous?.version ?? null;
  const record: PolicyRecord = {
    kind: 'policy',
    version: options.policy.version,
    sha256,
    yaml: options.yaml,
    applied_at: at,
    applied_by: options.who,
    reason: options.reason,
    previous_version: previousVersion,
  };
  const audit: AuditEntry = {
    at,
    who: options.who,
    action: options.action,
    subject: POLICY_SUBJECT,
    from: previousVersion,
    to: options.policy.version,
    reason: options.reason,
    sha256,
  };
  return {
    record,
    audit,
    messages: [
      { topic: options.topics.controlPolicy, key: POLICY_KEY, value: JSON.stringify(record) },
      { topic: options.topics.audit, key: POLICY_SUBJECT, value: JSON.stringify(audit) },
    ],
  };
}

export function ackMessage(topics: TopicNames, ack: ReplicaAck): ControlMessage {
  return { topic: topics.controlPolicy, key: `${ACK_KEY_PREFIX}${ack.replica}`, value: JSON.stringify(ack) };
}

/** Removes a replica's acknowledgement: it stopped, and no longer routes by anything. */
export function ackRemoval(topics: TopicNames, replica: string): ControlMessage {
  return { topic: topics.controlPolicy, key: `${ACK_KEY_PREFIX}${replica}`, value: null };
}

/**
 * Router replicas follow the control topic with a group each, named after the router's
 * group: a group with this prefix and live members is a running replica.
 */
export const replicaGroupPrefix = (routerGroupId: string): string => `${routerGroupId}.policy.`;
