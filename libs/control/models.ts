/**
 * Model deployments on the control plane: which version of the store serves each source and
 * which one is the candidate (shadow or canary), as JSON on the compacted topic
 * patterns.control.models, which every tagger replica follows:
 * - key `deployment/<source>`: the deployment of that source (latest wins);
 * - key `ack/<replica>`: what a tagger replica labels with now, per source (or why it refused).
 * Every change is written with its audit entry (patterns.audit, subject `model:<source>`) in one
 * transaction, like the routing policy's.
 */
import { randomUUID } from 'node:crypto';
import {
  type ControlMessage,
  type InboundRecord,
  type Kafka,
  readTopicToEnd,
  type TopicSpec,
} from '@patternflow/kafka';
import type { Logger } from '@patternflow/observability';
import type { TopicNames } from '@patternflow/records';
import { type AuditEntry, isString, parseControlValue, type UnreadableRecord } from './records.ts';

export const DEPLOYMENT_KEY_PREFIX = 'deployment/';
export const MODEL_ACK_KEY_PREFIX = 'ack/';

/** One version of the store, pinned by the sha256 of its model.onnx (from its signed manifest). */
export interface ModelRef {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
}

export type CandidateMode = 'shadow' | 'canary';

export interface CandidateRef extends ModelRef {
  /** shadow: labelled beside the serving model, never routed; canary: labels and routes `share` of the records. */
  readonly mode: CandidateMode;
  /** canary only: the share of record ids (stable hash) the candidate labels, in (0, 1]. */
  readonly share?: number;
}

export interface ModelDeployment {
  readonly kind: 'deployment';
  /** Unique per change: the replicas' acknowledgements name it. */
  readonly id: string;
  readonly source: string;
  readonly serving: ModelRef;
  readonly candidate: CandidateRef | null;
  /** ISO 8601. */
  readonly at: string;
  readonly who: string;
  readonly reason: string;
}

/** What one replica labels a source with, answering deployment `id`. */
export interface SourceAck {
  /** The deployment in force; for `rejected`, the one refused. */
  readonly id: string;
  /** `in-force`: labels with serving/candidate; `rejected`: refused deployment `id` (detail) and kept serving/candidate. */
  readonly status: 'in-force' | 'rejected';
  readonly serving: ModelRef;
  readonly candidate: CandidateRef | null;
  readonly detail?: string;
}

export interface ModelReplicaAck {
  readonly kind: 'model-ack';
  readonly replica: string;
  readonly at: string;
  readonly sources: Readonly<Record<string, SourceAck>>;
}

export type ModelControlRecord =
  | { readonly type: 'deployment'; readonly deployment: ModelDeployment }
  | { readonly type: 'ack'; readonly ack: ModelReplicaAck }
  | UnreadableRecord;

export const modelSubject = (source: string): string => `model:${source}`;
export const refText = (ref: Pick<ModelRef, 'name' | 'version'>): string => `${ref.name}@${ref.version}`;
export const sameRef = (a: ModelRef | null | undefined, b: ModelRef | null | undefined): boolean =>
  (a ?? null) === (b ?? null) ||
  (a != null && b != null && a.name === b.name && a.version === b.version && a.sha256 === b.sha256);
/** Same serving version and same candidate (version, mode and share). */
export const sameDeployment = (
  a: Pick<ModelDeployment, 'serving' | 'candidate'>,
  b: Pick<ModelDeployment, 'serving' | 'candidate'>,
): boolean =>
  sameRef(a.serving, b.serving) &&
  sameRef(a.candidate, b.candidate) &&
  a.candidate?.mode === b.candidate?.mode &&
  a.candidate?.share === b.candidate?.share;

const SHA256 = /^[0-9a-f]{64}$/;

function refProblem(value: unknown, what: string): string | undefined {
  if (typeof value !== 'object' || value === null) return `${what} is not an object`;
  const ref = value as Record<string, unknown>;
  if (!isString(ref.name) || !isString(ref.version)) return `${what} lacks name or version`;
  if (!isString(ref.sha256) || !SHA256.test(ref.sha256)) return `${what}.sha256 is not a sha256`;
  return undefined;
}

function candidateProblem(value: unknown): string | undefined {
  if (value === null) return undefined;
  const problem = refProblem(value, 'candidate');
  if (problem) return problem;
  const { mode, share } = value as Record<string, unknown>;
  if (mode === 'shadow') return share === undefined ? undefined : 'a shadow candidate has no share';
  if (mode !== 'canary') return `candidate.mode is "${String(mode)}", not shadow or canary`;
  return validShare(share) ? undefined : `candidate.share ${String(share)} is not a number in (0, 1]`;
}

export const validShare = (share: unknown): share is number =>
  typeof share === 'number' && Number.isFinite(share) && share > 0 && share <= 1;

/** A record of the models control topic, checked field by field; never throws. */
export function decodeModelControlRecord(record: Pick<InboundRecord, 'key' | 'value'>): ModelControlRecord {
  const parsed = parseControlValue(record);
  if (parsed.type !== 'object') return parsed;
  const { key, value } = parsed;
  if (key.startsWith(DEPLOYMENT_KEY_PREFIX)) {
    const source = key.slice(DEPLOYMENT_KEY_PREFIX.length);
    const missing = ['id', 'source', 'at', 'who', 'reason'].filter((field) => !isString(value[field]));
    const problem =
      value.kind !== 'deployment' || missing.length > 0
        ? `not a deployment record (missing ${missing.join(', ') || 'kind'})`
        : value.source !== source
          ? `the record names source "${String(value.source)}" under the key of "${source}"`
          : (refProblem(value.serving, 'serving') ?? candidateProblem(value.candidate ?? null));
    if (problem) return { type: 'invalid', key, problem };
    return {
      type: 'deployment',
      deployment: {
        ...(value as unknown as ModelDeployment),
        candidate: (value.candidate as CandidateRef) ?? null,
      },
    };
  }
  if (key.startsWith(MODEL_ACK_KEY_PREFIX)) {
    const ok =
      value.kind === 'model-ack' &&
      isString(value.replica) &&
      isString(value.at) &&
      typeof value.sources === 'object' &&
      value.sources !== null;
    if (!ok) return { type: 'invalid', key, problem: 'not a tagger replica acknowledgement' };
    return { type: 'ack', ack: value as unknown as ModelReplicaAck };
  }
  return { type: 'invalid', key, problem: `unknown key "${key}"` };
}

/** The models control topic as of the last record read. */
export interface ModelControlState {
  readonly deployments: Map<string, ModelDeployment>;
  readonly acks: Map<string, ModelReplicaAck>;
}

export const emptyModelControlState = (): ModelControlState => ({ deployments: new Map(), acks: new Map() });

/** Folds one record into the state (later records win, as compaction keeps them). */
export function applyModelControlRecord(state: ModelControlState, record: ModelControlRecord): void {
  switch (record.type) {
    case 'deployment':
      state.deployments.set(record.deployment.source, record.deployment);
      return;
    case 'ack':
      state.acks.set(record.ack.replica, record.ack);
      return;
    case 'tombstone':
      if (record.key.startsWith(MODEL_ACK_KEY_PREFIX))
        state.acks.delete(record.key.slice(MODEL_ACK_KEY_PREFIX.length));
      return;
    case 'invalid':
      return;
  }
}

export type ModelAction =
  | 'model.seed'
  | 'model.promote'
  | 'model.rollback'
  | 'model.shadow'
  | 'model.canary'
  | 'model.clear-candidate';

/**
 * The two records of a deployment change, for one transaction: the new deployment of the
 * source and its audit entry (from/to are `name@version`; for candidate changes, the candidate's).
 */
export function deploymentChange(options: {
  topics: TopicNames;
  source: string;
  serving: ModelRef;
  candidate: CandidateRef | null;
  previous: ModelDeployment | undefined;
  action: ModelAction;
  who: string;
  reason: string;
  now?: Date;
}): { deployment: ModelDeployment; audit: AuditEntry; messages: ControlMessage[] } {
  const at = (options.now ?? new Date()).toISOString();
  const deployment: ModelDeployment = {
    kind: 'deployment',
    id: randomUUID(),
    source: options.source,
    serving: options.serving,
    candidate: options.candidate,
    at,
    who: options.who,
    reason: options.reason,
  };
  const aboutCandidate = ['model.shadow', 'model.canary', 'model.clear-candidate'].includes(options.action);
  const describe = (c: CandidateRef | null | undefined) =>
    c ? `${refText(c)} (${c.mode}${c.mode === 'canary' ? ` ${c.share}` : ''})` : 'none';
  const audit: AuditEntry = {
    at,
    who: options.who,
    action: options.action,
    subject: modelSubject(options.source),
    from: aboutCandidate
      ? options.previous?.candidate
        ? describe(options.previous.candidate)
        : null
      : options.previous
        ? refText(options.previous.serving)
        : null,
    to: aboutCandidate ? describe(options.candidate) : refText(options.serving),
    reason: options.reason,
    sha256: aboutCandidate ? (options.candidate?.sha256 ?? '') : options.serving.sha256,
  };
  return {
    deployment,
    audit,
    messages: [
      {
        topic: options.topics.controlModels,
        key: `${DEPLOYMENT_KEY_PREFIX}${options.source}`,
        value: JSON.stringify(deployment),
      },
      { topic: options.topics.audit, key: audit.subject, value: JSON.stringify(audit) },
    ],
  };
}

/**
 * The version a rollback of `source` returns to: the serving versions of the audit trail are a
 * stack (seed and promote push, rollback pops), and the rollback target is the one under the
 * top. Undefined when there is nothing to return to.
 */
export function rollbackTarget(entries: readonly AuditEntry[], source: string): string | undefined {
  const stack: string[] = [];
  for (const entry of entries) {
    if (entry.subject !== modelSubject(source)) continue;
    if (entry.action === 'model.seed' || entry.action === 'model.promote') {
      if (stack.at(-1) !== entry.to) stack.push(entry.to);
    } else if (entry.action === 'model.rollback') {
      stack.pop();
      // A rollback lands on the version under the top; when the trail was pruned, it is pushed.
      if (stack.at(-1) !== entry.to) stack.push(entry.to);
    }
  }
  return stack.at(-2);
}

export function modelAckMessage(topics: TopicNames, ack: ModelReplicaAck): ControlMessage {
  return {
    topic: topics.controlModels,
    key: `${MODEL_ACK_KEY_PREFIX}${ack.replica}`,
    value: JSON.stringify(ack),
  };
}

export function modelAckRemoval(topics: TopicNames, replica: string): ControlMessage {
  return { topic: topics.controlModels, key: `${MODEL_ACK_KEY_PREFIX}${replica}`, value: null };
}

/** Tagger replicas follow the models topic with a group each, named after the tagger's group. */
export const modelReplicaGroupPrefix = (taggerGroupId: string): string => `${taggerGroupId}.models.`;

/** One partition (deployments and acknowledgements totally ordered), compacted (the latest of each key lives on). */
export function modelControlTopicSpecs(topics: TopicNames): TopicSpec[] {
  return [
    {
      topic: topics.controlModels,
      partitions: 1,
      configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' },
    },
    { topic: topics.audit, partitions: 1, configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1' } },
  ];
}

/** The models control topic read once, to its end. A topic that does not exist yet reads as empty. */
export async function readModelControlState(options: {
  kafka: Kafka;
  topics: TopicNames;
  /** A group of this read alone (deleted afterwards). */
  groupId: string;
  logger: Logger;
  timeoutMs?: number;
}): Promise<ModelControlState> {
  const state = emptyModelControlState();
  const records = await readTopicToEnd({
    kafka: options.kafka,
    topic: options.topics.controlModels,
    groupId: options.groupId,
    logger: options.logger,
    ...(options.timeoutMs === undefined ? {} : { catchUpTimeoutMs: options.timeoutMs }),
  });
  for (const record of records) {
    const decoded = decodeModelControlRecord(record);
    if (decoded.type === 'invalid') {
      options.logger.warn({ offset: record.offset, ...decoded }, 'ignoring an invalid model control record');
    }
    applyModelControlRecord(state, decoded);
  }
  return state;
}
