/**
 * A policy's lane layout: its lanes (Kafka topics, registry subjects, the sink's inputs)
 * and where each lane lands. Running routers and sinks are built on it, so it can change
 * only with a redeploy; the rules and regions can change live.
 */
import type { Policy } from './policy.ts';

/** The lanes the policy sends to cold files too, or undefined when it has no `sinks:` mapping. */
export function coldLanesOf(policy: Policy): readonly string[] | undefined {
  if (policy.sinks === undefined) return undefined;
  return policy.lanes.filter((lane) => policy.sinks?.get(lane)?.includes('cold'));
}

/** How `candidate`'s layout differs from `current`'s, in words; undefined when it is the same. */
export function layoutChange(current: Policy, candidate: Policy): string | undefined {
  const changes: string[] = [];
  const sorted = (lanes: readonly string[]) => [...lanes].sort();
  const [a, b] = [sorted(current.lanes), sorted(candidate.lanes)];
  if (a.join(',') !== b.join(',')) {
    const added = b.filter((lane) => !a.includes(lane));
    const removed = a.filter((lane) => !b.includes(lane));
    changes.push(
      `lanes ${current.lanes.join(', ')} → ${candidate.lanes.join(', ')}${added.length > 0 ? ` (added ${added.join(', ')})` : ''}${removed.length > 0 ? ` (removed ${removed.join(', ')})` : ''}`,
    );
  }
  if ((current.sinks === undefined) !== (candidate.sinks === undefined)) {
    changes.push(
      candidate.sinks === undefined ? 'the sinks: mapping is removed' : 'a sinks: mapping is added',
    );
  } else if (current.sinks && candidate.sinks) {
    for (const lane of a.filter((l) => b.includes(l))) {
      const from = (current.sinks.get(lane) ?? []).join(', ');
      const to = (candidate.sinks.get(lane) ?? []).join(', ');
      if (from !== to) changes.push(`lane ${lane} lands in ${to} instead of ${from}`);
    }
  }
  return changes.length > 0 ? changes.join('; ') : undefined;
}
