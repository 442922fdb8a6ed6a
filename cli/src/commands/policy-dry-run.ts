/**
 * What a candidate routing policy would change: the same records routed by the policy in
 * force and by the candidate, compared. Pure: the command reads the records.
 */
import type { Policy } from '@patternflow/policy';
import type { TaggedPattern } from '@patternflow/records';

export interface RuleHits {
  readonly rule: string;
  readonly lane: string;
  readonly hits: number;
}

export interface LaneChange {
  readonly from: string;
  readonly to: string;
  readonly count: number;
}

export interface ChangedExample {
  readonly id: string;
  readonly region: string;
  readonly from: { readonly lane: string; readonly rule: string };
  readonly to: { readonly lane: string; readonly rule: string };
}

export interface DryRunReport {
  readonly records: number;
  /** Records whose lane differs between the two policies. */
  readonly changedLane: number;
  /** Records that keep their lane but are routed by another rule. */
  readonly changedRuleOnly: number;
  /** Every (lane in force → candidate lane) pair that occurs, unchanged pairs included, largest first. */
  readonly matrix: readonly LaneChange[];
  readonly inForceRules: readonly RuleHits[];
  readonly candidateRules: readonly RuleHits[];
  /** Up to `examplesPerChange` records for each lane change. */
  readonly examples: readonly ChangedExample[];
  /**
   * Records the candidate would send to a lane their region forbids: the router would
   * dead-letter them (PF_REGION_FORBIDDEN). The validator makes this 0.
   */
  readonly regionForbidden: number;
}

export function compareRouting(
  inForce: Policy,
  candidate: Policy,
  records: readonly TaggedPattern[],
  examplesPerChange = 3,
): DryRunReport {
  const hitsOf = (policy: Policy) => new Map(policy.rules.map((r) => [r.rule, 0]));
  const inForceHits = hitsOf(inForce);
  const candidateHits = hitsOf(candidate);
  const matrix = new Map<string, { from: string; to: string; count: number }>();
  const examples = new Map<string, ChangedExample[]>();
  let changedLane = 0;
  let changedRuleOnly = 0;
  let regionForbidden = 0;
  for (const record of records) {
    const before = inForce.route(record);
    const after = candidate.route(record);
    inForceHits.set(before.rule, (inForceHits.get(before.rule) ?? 0) + 1);
    candidateHits.set(after.rule, (candidateHits.get(after.rule) ?? 0) + 1);
    const key = `${before.lane}\u0000${after.lane}`;
    const cell = matrix.get(key) ?? { from: before.lane, to: after.lane, count: 0 };
    cell.count++;
    matrix.set(key, cell);
    if (!candidate.permits(record.region, after.lane)) regionForbidden++;
    if (before.lane !== after.lane) {
      changedLane++;
      const list = examples.get(key) ?? [];
      if (list.length < examplesPerChange) {
        list.push({
          id: record.id,
          region: record.region,
          from: { lane: before.lane, rule: before.rule },
          to: { lane: after.lane, rule: after.rule },
        });
      }
      examples.set(key, list);
    } else if (before.rule !== after.rule) {
      changedRuleOnly++;
    }
  }
  const rulesOf = (policy: Policy, hits: Map<string, number>): RuleHits[] =>
    policy.rules.map((r) => ({ rule: r.rule, lane: r.lane, hits: hits.get(r.rule) ?? 0 }));
  return {
    records: records.length,
    changedLane,
    changedRuleOnly,
    matrix: [...matrix.values()].sort((a, b) => b.count - a.count || a.from.localeCompare(b.from)),
    inForceRules: rulesOf(inForce, inForceHits),
    candidateRules: rulesOf(candidate, candidateHits),
    examples: [...examples.values()].flat(),
    regionForbidden,
  };
}
