/**
 * The latency figures of a run set against its limits and against issue 12's goals:
 * multiples of 4 × Kafka's floor and of 4 × one relay (four hops, each at least that),
 * and met / not met for each goal, from the figures alone (no I/O: unit-tested).
 */
import { round } from './limits/kafka-admin.ts';

interface PQ {
  p50: number;
  p99: number;
}

export interface LatencyMultiples {
  /** Pipeline durable p50 (p99) ÷ (4 × the floor's p50 (p99)). */
  overFourFloor: PQ & {
    /**
     * EndToEndLatency truncates each latency to whole ms: a floor percentile of 0 means
     * "below 1 ms" and is taken as 1 ms, so the multiple is a lower bound.
     */
    lowerBound: boolean;
  };
  /** Pipeline durable p50 (p99) ÷ (4 × one relay's p50 (p99) at the same offered rate). */
  overFourRelay: PQ;
}

export function latencyMultiples(
  pipeline: PQ,
  floor: { p50Ms: number; p99Ms: number },
  relay: PQ,
): LatencyMultiples {
  const floorP50 = Math.max(1, floor.p50Ms);
  const floorP99 = Math.max(1, floor.p99Ms);
  return {
    overFourFloor: {
      p50: round(pipeline.p50 / (4 * floorP50), 2),
      p99: round(pipeline.p99 / (4 * floorP99), 2),
      lowerBound: floor.p50Ms < 1 || floor.p99Ms < 1,
    },
    overFourRelay: {
      p50: round(pipeline.p50 / (4 * relay.p50), 2),
      p99: round(pipeline.p99 / (4 * relay.p99), 2),
    },
  };
}

export interface Goal {
  goal: string;
  value: number | null;
  unit: 'ms' | 'ratio' | 'records';
  /** null when the run has no figure for it (e.g. no critical rows). */
  met: boolean | null;
}

export interface GoalInputs {
  /** Durable latency at 50% of saturation. */
  at50: PQ;
  /** Per fixed rate: its label (e.g. "25%"), the pipeline's durable p99 and one relay's p99. */
  perRate: { label: string; p99: number; relayP99: number }[];
  /** Critical lane's durable p99 in the overload and in the 25% run (null: no such rows). */
  criticalP99Overload: number | null;
  criticalP99At25: number | null;
  /** Sent ids of the overload with no row after the drain. */
  overloadMissing: number | null;
}

export function latencyGoals(inputs: GoalInputs): Goal[] {
  const goal = (name: string, value: number | null, unit: Goal['unit'], limit: number): Goal => ({
    goal: name,
    value,
    unit,
    met: value === null || !Number.isFinite(value) ? null : value <= limit,
  });
  const goals = [
    goal('durable p99 at 50% ≤ 100 ms', inputs.at50.p99, 'ms', 100),
    goal('durable p50 at 50% ≤ 30 ms', inputs.at50.p50, 'ms', 30),
    ...inputs.perRate.map((rate) =>
      goal(
        `p99 ≤ 1.5 × (4 × relay p99) at ${rate.label}`,
        round(rate.p99 / (4 * rate.relayP99), 2),
        'ratio',
        1.5,
      ),
    ),
    goal(
      'critical p99 in overload ≤ 2 × critical p99 at 25%',
      inputs.criticalP99Overload === null || inputs.criticalP99At25 === null
        ? null
        : round(inputs.criticalP99Overload / inputs.criticalP99At25, 2),
      'ratio',
      2,
    ),
    goal('nothing lost in the overload', inputs.overloadMissing, 'records', 0),
  ];
  return goals;
}
