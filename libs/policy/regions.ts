/**
 * Regional rules: where records of a region may go. A region lists the lanes its records
 * may be routed to and/or the sinks (stores) they may land in; the policy's `sinks:`
 * mapping says where each lane lands. The validator proves, with the same DNF algebra as
 * the unreachable-rule check, that no rule routing to a forbidden lane can match a record
 * of the region once the earlier rules have taken theirs.
 */
import {
  type Conjunct,
  FULL_SCORE,
  intersectConjuncts,
  isEmptyConjunct,
  subsumes,
  TRUE_CONJUNCT,
} from './constraints.ts';
import { isPlainObject, type Problems, ruleLabel, stringList } from './problems.ts';

/** The stores of the sink: every record is a PostgreSQL row; cold lanes also go to gzip NDJSON files. */
export const SINKS = ['postgres', 'cold'] as const;
export type Sink = (typeof SINKS)[number];

export interface RegionRestriction {
  /** The lanes records of the region may be routed to: `lanes`, minus those landing in a sink not in `sinks`. */
  readonly allowedLanes: readonly string[];
  /** As written in the policy, when given. */
  readonly lanes?: readonly string[];
  readonly sinks?: readonly Sink[];
}

/** A rule as the regional check sees it: its lane and its condition in DNF (null: too large to expand). */
export interface AnalysedRule {
  readonly name: string;
  readonly lane: string;
  readonly conjuncts: readonly Conjunct[] | null;
}

const REGION_KEYS: ReadonlySet<string> = new Set(['lanes', 'sinks', 'description']);
/** Region names as the sources write them (eu-west, us-east …). */
const REGION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const isSink = (s: string): s is Sink => (SINKS as readonly string[]).includes(s);
/** In SINKS order, so that two mappings compare as lists. */
const sortSinks = (list: readonly Sink[]): Sink[] => SINKS.filter((s) => list.includes(s));

/** `sinks:` — every lane, mapped to the stores it lands in. Undefined when the policy has none. */
export function readSinks(
  raw: unknown,
  lanes: readonly string[],
  problems: Problems,
): ReadonlyMap<string, readonly Sink[]> | undefined {
  if (raw === undefined) return undefined;
  if (!isPlainObject(raw) || Object.keys(raw).length === 0) {
    problems.add(
      'sinks',
      'must be a mapping of every lane to the sinks it lands in, e.g. bulk: [postgres, cold]',
    );
    return undefined;
  }
  const sinks = new Map<string, readonly Sink[]>();
  for (const [lane, value] of Object.entries(raw)) {
    const where = `sinks.${lane}`;
    if (!lanes.includes(lane)) {
      problems.add(where, `"${lane}" is not a declared lane (declared lanes: ${lanes.join(', ')})`);
      continue;
    }
    const list = stringList(value);
    if (!list) {
      problems.add(where, `must be a non-empty list of sinks (${SINKS.join(', ')})`);
      continue;
    }
    const unknown = list.filter((s) => !isSink(s));
    if (unknown.length > 0) {
      problems.add(
        where,
        `unknown sink ${unknown.map((s) => `"${s}"`).join(', ')} (known: ${SINKS.join(', ')})`,
      );
      continue;
    }
    if (new Set(list).size !== list.length) problems.add(where, 'lists a sink twice');
    if (!list.includes('postgres')) {
      problems.add(
        where,
        'must include postgres: the sink writes every record to PostgreSQL, cold files come in addition',
      );
    }
    sinks.set(lane, sortSinks(list as Sink[]));
  }
  for (const lane of lanes) {
    if (!Object.hasOwn(raw, lane))
      problems.add('sinks', `lane "${lane}" is missing: list the sinks of every lane`);
  }
  return sinks;
}

/** `regions:` — the lanes and sinks records of each listed region may reach. */
export function readRegions(
  raw: unknown,
  lanes: readonly string[],
  sinks: ReadonlyMap<string, readonly Sink[]> | undefined,
  problems: Problems,
): ReadonlyMap<string, RegionRestriction> {
  const regions = new Map<string, RegionRestriction>();
  if (raw === undefined) return regions;
  if (!isPlainObject(raw) || Object.keys(raw).length === 0) {
    problems.add('regions', 'must be a mapping of region names to { lanes: [...], sinks: [...] }');
    return regions;
  }
  for (const [region, value] of Object.entries(raw)) {
    const where = `regions.${region}`;
    if (!REGION_PATTERN.test(region)) {
      problems.add(where, 'a region name is letters, digits, "_", "." or "-"');
      continue;
    }
    if (!isPlainObject(value) || !('lanes' in value || 'sinks' in value)) {
      problems.add(where, 'must be a mapping with lanes: [...] and/or sinks: [...]');
      continue;
    }
    let ok = true;
    for (const key of Object.keys(value)) {
      if (!REGION_KEYS.has(key)) {
        problems.add(where, `unknown key "${key}" (expected lanes, sinks, description)`);
        ok = false;
      }
    }
    if (value.description !== undefined && typeof value.description !== 'string') {
      problems.add(where, 'description must be a string');
    }
    let regionLanes: string[] | undefined;
    if (value.lanes !== undefined) {
      regionLanes = stringList(value.lanes);
      if (!regionLanes) {
        problems.add(`${where}.lanes`, 'must be a non-empty list of declared lanes');
        ok = false;
      } else {
        const unknown = regionLanes.filter((lane) => !lanes.includes(lane));
        if (unknown.length > 0) {
          problems.add(
            `${where}.lanes`,
            `unknown lane ${unknown.map((l) => `"${l}"`).join(', ')} (declared lanes: ${lanes.join(', ')})`,
          );
          ok = false;
        }
      }
    }
    let regionSinks: Sink[] | undefined;
    if (value.sinks !== undefined) {
      const list = stringList(value.sinks);
      if (!list?.every(isSink)) {
        problems.add(`${where}.sinks`, `must be a non-empty list of sinks (${SINKS.join(', ')})`);
        ok = false;
      } else if (sinks === undefined) {
        problems.add(
          `${where}.sinks`,
          'needs the top-level `sinks:` mapping that says which sinks each lane lands in',
        );
        ok = false;
      } else {
        regionSinks = sortSinks(list as Sink[]);
      }
    }
    if (!ok) continue;
    const allowedLanes = (regionLanes ?? lanes).filter(
      (lane) =>
        lanes.includes(lane) &&
        (regionSinks === undefined || (sinks?.get(lane) ?? []).every((s) => regionSinks.includes(s))),
    );
    if (allowedLanes.length === 0) {
      problems.add(where, 'allows no lane at all: no record of the region could be routed');
      continue;
    }
    regions.set(
      region,
      Object.freeze({
        allowedLanes: Object.freeze(lanes.filter((l) => allowedLanes.includes(l))),
        ...(regionLanes ? { lanes: Object.freeze(regionLanes) } : {}),
        ...(regionSinks ? { sinks: Object.freeze(regionSinks) } : {}),
      }),
    );
  }
  return regions;
}

const regionOnly = (region: string): Conjunct => ({
  strings: new Map([['region', { kind: 'in', values: new Set([region]) }]]),
  score: FULL_SCORE,
  scored: false,
});

/**
 * Reports every rule that routes to a lane some region forbids and that a record of that
 * region could still match. For each of the rule's conjunctions, restricted to the region:
 * it is harmless when it is empty (the rule excludes the region) or contained in ONE
 * conjunction of an earlier rule (those records are taken before). Conservative: records
 * covered only by the union of several earlier conjunctions are reported anyway, and so is a
 * rule too large to expand; the runtime check dead-letters what the proof cannot rule out.
 */
export function checkRegionalRules(
  rules: readonly AnalysedRule[],
  regions: ReadonlyMap<string, RegionRestriction>,
  sinks: ReadonlyMap<string, readonly Sink[]> | undefined,
  problems: Problems,
): void {
  for (const [region, restriction] of regions) {
    const focus = regionOnly(region);
    const earlier: Conjunct[] = [];
    rules.forEach((rule, index) => {
      const conjuncts = rule.conjuncts;
      if (!restriction.allowedLanes.includes(rule.lane)) {
        const why =
          restriction.lanes && !restriction.lanes.includes(rule.lane)
            ? `regions.${region} allows only lanes ${restriction.lanes.join(', ')}`
            : `lane ${rule.lane} lands in ${(sinks?.get(rule.lane) ?? []).join(' and ')}, and regions.${region} allows only sinks ${(restriction.sinks ?? []).join(', ')}`;
        const where = `${ruleLabel(index, rule.name)} (lane ${rule.lane})`;
        if (conjuncts === null) {
          problems.add(
            where,
            `cannot be checked against regions.${region}: its condition expands to too many alternatives; simplify it or exclude the region (region: { not_in: [${region}] })`,
          );
        } else {
          const reaches = conjuncts.some((c) => {
            const restricted = intersectConjuncts(c, focus);
            return !isEmptyConjunct(restricted) && !earlier.some((e) => subsumes(e, restricted));
          });
          if (reaches) {
            problems.add(
              where,
              `records of region "${region}" can reach it, but ${why}; exclude the region (region: { not_in: [${region}] }) or route its records in an earlier rule`,
            );
          }
        }
      }
      if (conjuncts) earlier.push(...conjuncts.filter((c) => !isEmptyConjunct(c)));
    });
  }
}

/** The conjunct of an unconditional rule. */
export const UNCONDITIONAL: readonly Conjunct[] = [TRUE_CONJUNCT];
