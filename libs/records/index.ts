/**
 * The record contracts shared by every stage: topic names and the canonical record as
 * it travels patterns.normalized → patterns.tagged → patterns.routed.<lane> (or, when the
 * routing policy's `expedite:` marks it, patterns.normalized.priority → patterns.tagged.priority).
 * The Avro schemas in schemas/ are the source of truth; these types mirror them.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const Topics = {
  ingestPrefix: 'patterns.ingest.',
  normalized: 'patterns.normalized',
  tagged: 'patterns.tagged',
  /**
   * The expedited lane before the router knows the lane: the same records as their siblings,
   * encoded under the SAME registry subjects (valueSubject(normalized) / (tagged)), consumed
   * ahead of them (docs/architecture.md#priority-under-overload).
   */
  normalizedPriority: 'patterns.normalized.priority',
  taggedPriority: 'patterns.tagged.priority',
  routedPrefix: 'patterns.routed.',
  dlq: 'patterns.dlq',
  /** The audit trail of offsets an operator skipped because no client could read them. */
  skipped: 'patterns.skipped',
  /**
   * Compacted, keyed by the DLQ record's `<partition>:<offset>`: which dead letters were
   * redriven (`patternflow dlq redrive`), so that one is not redriven twice by accident.
   */
  dlqRedrives: 'patterns.dlq-redrives',
  /** Compacted: the routing policy in force (key `policy`) and each router replica's acknowledgement. */
  controlPolicy: 'patterns.control.policy',
  /** Compacted: the model deployment of each source (serving version, candidate) and each tagger replica's acknowledgement. */
  controlModels: 'patterns.control.models',
  /** Append-only, kept forever: who changed what in the running pipeline (policy applies, model promotions). */
  audit: 'patterns.audit',
  /** Ground truth from downstream teams: JSON {id, label, source?, at?} (docs/models.md, "Semantic observability"). */
  feedback: 'patterns.feedback',
} as const;

export const ingestTopic = (source: string): string => `${Topics.ingestPrefix}${source}`;
export const routedTopic = (lane: string): string => `${Topics.routedPrefix}${lane}`;

export interface TopicNames {
  readonly ingestPrefix: string;
  readonly normalized: string;
  readonly tagged: string;
  readonly normalizedPriority: string;
  readonly taggedPriority: string;
  readonly dlq: string;
  readonly skipped: string;
  readonly dlqRedrives: string;
  readonly controlPolicy: string;
  readonly controlModels: string;
  readonly audit: string;
  readonly feedback: string;
  ingest(source: string): string;
  routed(lane: string): string;
  /** The source of an ingest topic name, or undefined when it is not one. */
  sourceOf(topic: string): string | undefined;
}

/**
 * The topic names of one pipeline. The namespace is empty in every real deployment (the
 * contract names above); tests give each run its own namespace so that runs never see
 * each other's records.
 */
export function topicNames(namespace = ''): TopicNames {
  const prefix = namespace === '' ? '' : `${namespace}.`;
  const ingestPrefix = `${prefix}${Topics.ingestPrefix}`;
  return Object.freeze({
    ingestPrefix,
    normalized: `${prefix}${Topics.normalized}`,
    tagged: `${prefix}${Topics.tagged}`,
    normalizedPriority: `${prefix}${Topics.normalizedPriority}`,
    taggedPriority: `${prefix}${Topics.taggedPriority}`,
    dlq: `${prefix}${Topics.dlq}`,
    skipped: `${prefix}${Topics.skipped}`,
    dlqRedrives: `${prefix}${Topics.dlqRedrives}`,
    controlPolicy: `${prefix}${Topics.controlPolicy}`,
    controlModels: `${prefix}${Topics.controlModels}`,
    audit: `${prefix}${Topics.audit}`,
    feedback: `${prefix}${Topics.feedback}`,
    ingest: (source: string) => `${ingestPrefix}${source}`,
    routed: (lane: string) => `${prefix}${Topics.routedPrefix}${lane}`,
    sourceOf: (topic: string) =>
      topic.startsWith(ingestPrefix) && topic.length > ingestPrefix.length
        ? topic.slice(ingestPrefix.length)
        : undefined,
  });
}
/** TopicNameStrategy: the value schema of topic T is registered under subject "T-value". */
export const valueSubject = (topic: string): string => `${topic}-value`;

export type AttributeValue = null | boolean | number | string;

export interface NormalizedPattern {
  id: string;
  source: string;
  kind: string;
  event_time: number;
  ingest_time: number;
  tenant: string;
  tier: string;
  region: string;
  attributes: Record<string, AttributeValue>;
  payload: string;
  payload_format: 'JSON' | 'AVRO';
  payload_schema_id: number | null;
}

export interface Inference {
  label: string;
  score: number;
  scores: Record<string, number>;
  model_name: string;
  model_version: string;
  /** sha256 of the model.onnx that labelled the record ('' in records written before the field existed). */
  model_sha256: string;
  inferred_at: number;
  /** The shadow candidate's label for the same record, when one ran (null otherwise, and in older records). */
  shadow?: ShadowInference | null;
}

/** A shadow candidate's classification: recorded, compared, never routed. */
export interface ShadowInference {
  label: string;
  score: number;
  model_name: string;
  model_version: string;
  model_sha256: string;
}

export interface TaggedPattern extends NormalizedPattern {
  inference: Inference;
}

export interface Route {
  lane: string;
  rule: string;
  policy_version: string;
  routed_at: number;
}

export interface RoutedPattern extends TaggedPattern {
  route: Route;
}

export const TIERS = ['enterprise', 'business', 'standard', 'free'] as const;
export type Tier = (typeof TIERS)[number];

const schemasDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas');

/** Reads an Avro schema from schemas/, e.g. loadSchema('normalized') or loadSchema('sources/payments'). */
export function loadSchema(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(schemasDir, `${name}.avsc`), 'utf8'));
}
