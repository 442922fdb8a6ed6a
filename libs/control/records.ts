/**
 * The control plane's records, as JSON on two topics:
 * - patterns.control.policy (compacted): key `policy` holds the routing policy in force;
 *   key `ack/<replica>` holds what each router replica routes by (or why it refused).
 * - patterns.audit (append-only, kept forever): one entry per change to the running pipeline.
 */
import { createHash } from 'node:crypto';
import type { InboundRecord } from '@patternflow/kafka';

export const POLICY_KEY = 'policy';
export const ACK_KEY_PREFIX = 'ack/';

/** The routing policy in force: the YAML text itself, so every replica validates and routes by the same bytes. */
export interface PolicyRecord {
  readonly kind: 'policy';
  readonly version: string;
  /** sha256 of `yaml` (UTF-8), hex. */
  readonly sha256: string;
  readonly yaml: string;
  /** ISO 8601. */
  readonly applied_at: string;
  readonly applied_by: string;
  readonly reason: string;
  /** The version this one replaced; null for the first (the seed). */
  readonly previous_version: string | null;
}

/** A router replica's answer to the policy record: what it routes by now. */
export interface ReplicaAck {
  readonly kind: 'ack';
  readonly replica: string;
  /** `in-force`: the replica routes by version/sha256; `rejected`: it refused them (see detail) and kept its own. */
  readonly status: 'in-force' | 'rejected';
  readonly version: string;
  readonly sha256: string;
  /** For `rejected`: the version it kept, and why. */
  readonly detail?: string;
  readonly at: string;
}

/**
 * One change to the running pipeline. Generic on purpose: the routing policy writes
 * `policy.seed` / `policy.apply` on subject `routing-policy`; model promotions and rollbacks
 * use the same shape (`model.promote`, subject `model:<name>`).
 */
export interface AuditEntry {
  readonly at: string;
  readonly who: string;
  /** `<kind>.<verb>`. */
  readonly action: string;
  readonly subject: string;
  /** The version replaced; null when there was none. */
  readonly from: string | null;
  readonly to: string;
  readonly reason: string;
  readonly sha256: string;
}

export const POLICY_SUBJECT = 'routing-policy';

export const sha256Of = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

export type ControlRecord =
  | { readonly type: 'policy'; readonly record: PolicyRecord }
  | { readonly type: 'ack'; readonly ack: ReplicaAck }
  | UnreadableRecord;

/** A control record that holds no JSON object: a deleted key, or one nobody can read. */
export type UnreadableRecord =
  /** A key deleted: a replica that stopped removes its acknowledgement. */
  | { readonly type: 'tombstone'; readonly key: string }
  | { readonly type: 'invalid'; readonly key: string; readonly problem: string };

export const isString = (v: unknown): v is string => typeof v === 'string';

/** The key and JSON object of a record of a control topic, or what it is instead; never throws. */
export function parseControlValue(
  record: Pick<InboundRecord, 'key' | 'value'>,
):
  | { readonly type: 'object'; readonly key: string; readonly value: Record<string, unknown> }
  | UnreadableRecord {
  const key = record.key?.toString('utf8') ?? '';
  if (record.value === null || record.value.length === 0) return { type: 'tombstone', key };
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(record.value.toString('utf8'));
  } catch {
    return { type: 'invalid', key, problem: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null)
    return { type: 'invalid', key, problem: 'not a JSON object' };
  return { type: 'object', key, value };
}

/** A record of the control topic, checked field by field; never throws. */
export function decodeControlRecord(record: Pick<InboundRecord, 'key' | 'value'>): ControlRecord {
  const parsed = parseControlValue(record);
  if (parsed.type !== 'object') return parsed;
  const { key, value } = parsed;
  if (key === POLICY_KEY) {
    const missing = ['version', 'sha256', 'yaml', 'applied_at', 'applied_by', 'reason'].filter(
      (field) => !isString(value[field]),
    );
    if (value.kind !== 'policy' || missing.length > 0) {
      return {
        type: 'invalid',
        key,
        problem: `not a policy record (missing ${missing.join(', ') || 'kind'})`,
      };
    }
    if (sha256Of(value.yaml as string) !== value.sha256) {
      return { type: 'invalid', key, problem: 'sha256 does not match the policy text' };
    }
    const previous = isString(value.previous_version) ? value.previous_version : null;
    return { type: 'policy', record: { ...(value as unknown as PolicyRecord), previous_version: previous } };
  }
  if (key.startsWith(ACK_KEY_PREFIX)) {
    const ok =
      value.kind === 'ack' &&
      ['replica', 'version', 'sha256', 'at'].every((field) => isString(value[field])) &&
      (value.status === 'in-force' || value.status === 'rejected');
    if (!ok) return { type: 'invalid', key, problem: 'not a replica acknowledgement' };
    return { type: 'ack', ack: value as unknown as ReplicaAck };
  }
  return { type: 'invalid', key, problem: `unknown key "${key}"` };
}

/** An audit topic record, or undefined when it is not one. */
export function decodeAuditEntry(value: Buffer | null): AuditEntry | undefined {
  if (value === null) return undefined;
  try {
    const entry = JSON.parse(value.toString('utf8'));
    const ok =
      ['at', 'who', 'action', 'subject', 'to', 'reason', 'sha256'].every((f) => isString(entry[f])) &&
      (entry.from === null || isString(entry.from));
    return ok ? (entry as AuditEntry) : undefined;
  } catch {
    return undefined;
  }
}
