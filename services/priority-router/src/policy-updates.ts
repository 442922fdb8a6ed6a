/**
 * What a router replica makes of the policy records it reads, without Kafka: which one is
 * in force, and whether a newer record replaces it or is refused. Records are offered with
 * their offset on the (single-partition) control topic; only a record newer than every one
 * offered before counts, so reading the topic again from its beginning (a consumer restarted
 * after an outage, with no committed offset) never flips back to an older policy.
 */
import { type PolicyRecord, policyOfRecord } from '@patternflow/control';
import { layoutChange, type Policy } from '@patternflow/policy';

export interface InForce {
  readonly policy: Policy;
  readonly sha256: string;
}

export type Offered =
  /** Older than what was already offered, or the content in force: nothing to do. */
  | { readonly kind: 'ignored' }
  | { readonly kind: 'applied'; readonly from: InForce; readonly to: InForce }
  /** Kept `current`; `detail` says why the record was refused. */
  | { readonly kind: 'rejected'; readonly current: InForce; readonly detail: string };

export interface PolicyUpdates {
  current(): InForce;
  offer(offset: bigint, record: PolicyRecord): Offered;
}

export function createPolicyUpdates(start: InForce, startOffset: bigint): PolicyUpdates {
  let inForce = start;
  let lastOffered = startOffset;
  return {
    current: () => inForce,
    offer(offset, record) {
      if (offset <= lastOffered) return { kind: 'ignored' };
      lastOffered = offset;
      const current = inForce;
      if (record.sha256 === current.sha256) return { kind: 'ignored' };
      const rejected = (detail: string): Offered => ({ kind: 'rejected', current, detail });
      if (record.version === current.policy.version) {
        return rejected(
          `version ${record.version} is the version in force, with other content: bump version on every change`,
        );
      }
      let policy: Policy;
      try {
        policy = policyOfRecord(record);
      } catch (error) {
        return rejected(error instanceof Error ? error.message : String(error));
      }
      const change = layoutChange(current.policy, policy);
      if (change !== undefined) {
        return rejected(`the lane layout changed (${change}): lanes and sinks change only with a redeploy`);
      }
      inForce = { policy, sha256: record.sha256 };
      return { kind: 'applied', from: current, to: inForce };
    },
  };
}
