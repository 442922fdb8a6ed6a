/**
 * Routing policy as code: a versioned YAML file of ordered rules, first match wins, and the
 * `expedite:` conditions that send a record through the expedited topics (a scheduling hint,
 * never a routing decision; docs/routing.md#expedite).
 * Everything is checked when the file is loaded (fields, operators, lanes, sinks, regions,
 * names, types, a final unconditional default, unreachable rules, rules that would send a
 * restricted region's records to a lane it forbids), so route() itself cannot fail and
 * runs precompiled closures with no allocation: each rule's result object is built once.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { Inference, NormalizedPattern, TaggedPattern } from '@patternflow/records';
import { parse as parseYaml } from 'yaml';
import {
  type Conjunct,
  FULL_SCORE,
  intersectConjuncts,
  isEmptyConjunct,
  type ScoreRange,
  type StringField,
  subsumes,
  TRUE_CONJUNCT,
} from './constraints.ts';
import { isPlainObject, Problems, ruleLabel, stringList } from './problems.ts';
import {
  type AnalysedRule,
  checkRegionalRules,
  type RegionRestriction,
  readRegions,
  readSinks,
  type Sink,
  UNCONDITIONAL,
} from './regions.ts';

export interface RouteDecision {
  readonly lane: string;
  readonly rule: string;
}

/** An `expedite:` entry, as declared (its condition is compiled into Policy.expedites). */
export interface ExpediteEntry {
  readonly name: string;
  readonly description: string | undefined;
}

/**
 * What a stage knows of a record when it asks Policy.expedites: the ingestor has no
 * `inference` yet, the tagger has it. A tagged record is one of these.
 */
export type PolicyFields = Pick<NormalizedPattern, 'source' | 'kind' | 'tenant' | 'tier' | 'region'> & {
  readonly inference?: Pick<Inference, 'label' | 'score'>;
};

export interface Policy {
  readonly version: string;
  readonly lanes: readonly string[];
  /** Where each lane lands (`sinks:`), when the policy says; every lane is a key. */
  readonly sinks: ReadonlyMap<string, readonly Sink[]> | undefined;
  /** The regions whose records may only reach some lanes (`regions:`). */
  readonly regions: ReadonlyMap<string, RegionRestriction>;
  /** Every rule's name and lane, in evaluation order; the last one is the default. */
  readonly rules: readonly RouteDecision[];
  /** First matching rule's lane and name. The returned object is shared and frozen: do not mutate. */
  route(record: TaggedPattern): RouteDecision;
  /** False when `regions:` forbids records of `region` to reach `lane`. */
  permits(region: string, lane: string): boolean;
  /** The `expedite:` entries, in order (empty when the policy has none). */
  readonly expedite: readonly ExpediteEntry[];
  /**
   * Whether some `expedite:` condition holds for what the stage knows of the record. Without
   * `inference` (the ingestor), a condition on label or score is not met, so only the parts of
   * a condition that do not need them can hold (an `any` branch on tier, say).
   */
  expedites(fields: PolicyFields): boolean;
}

type Condition =
  | {
      readonly type: 'string';
      readonly field: StringField;
      readonly kind: 'in' | 'not_in';
      readonly values: readonly string[];
    }
  | { readonly type: 'score'; readonly range: ScoreRange }
  | { readonly type: 'all' | 'any'; readonly items: readonly Condition[] };

type Predicate = (record: PolicyFields) => boolean;

const STRING_FIELDS: ReadonlySet<string> = new Set<StringField>([
  'label',
  'source',
  'kind',
  'tenant',
  'tier',
  'region',
]);
const STRING_OPERATORS = ['eq', 'in', 'not_in'] as const;
const SCORE_OPERATORS = ['gte', 'gt', 'lte', 'lt'] as const;
const TOP_KEYS: ReadonlySet<string> = new Set(['version', 'lanes', 'sinks', 'regions', 'rules', 'expedite']);
const RULE_KEYS: ReadonlySet<string> = new Set(['name', 'lane', 'when', 'description']);
const EXPEDITE_KEYS: ReadonlySet<string> = new Set(['name', 'when', 'description']);
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Lanes become Kafka topic suffixes (patterns.routed.<lane>) and directory names. */
const LANE_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
/** Expanding nested any/all can grow exponentially; past this the rule is not checked for reachability. */
const MAX_CONJUNCTS = 256;

export function loadPolicy(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new PipelineError(ErrorCodes.POLICY_INVALID, `${path}: cannot read the policy file`, {
      cause,
      details: { origin: path },
    });
  }
  return parsePolicy(text, path);
}

export function parsePolicy(text: string, origin: string): Policy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw invalid(origin, [`not valid YAML: ${reason}`], cause);
  }
  const problems = new Problems();
  if (!isPlainObject(doc))
    throw invalid(origin, ['the file must be a mapping with version, lanes and rules']);
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.has(key))
      problems.add(
        '',
        `unknown top-level key "${key}" (expected version, lanes, sinks, regions, rules, expedite)`,
      );
  }

  const version = doc.version;
  if (typeof version !== 'string' || version.trim() === '') {
    problems.add('version', 'must be a non-empty string (quote it: version: "1.0")');
  }

  const lanes = readLanes(doc.lanes, problems);
  const laneSet = new Set(lanes);
  const sinks = readSinks(doc.sinks, lanes, problems);
  const regions = readRegions(doc.regions, lanes, sinks, problems);
  const expedite = readExpedite(doc.expedite, problems);
  const rules = doc.rules;
  if (!Array.isArray(rules) || rules.length === 0) {
    problems.add('rules', 'must be a non-empty list');
    throw invalid(origin, problems.list);
  }

  const parsed: { name: string; lane: string; condition: Condition | null }[] = [];
  const seenNames = new Map<string, number>();
  rules.forEach((raw, index) => {
    const rawName = isPlainObject(raw) ? raw.name : undefined;
    const where = ruleLabel(index, rawName);
    if (!isPlainObject(raw)) {
      problems.add(where, 'must be a mapping with name, lane and (except the default) when');
      return;
    }
    for (const key of Object.keys(raw)) {
      if (!RULE_KEYS.has(key))
        problems.add(where, `unknown key "${key}" (expected name, lane, when, description)`);
    }
    let ok = true;
    if (typeof rawName !== 'string' || !NAME_PATTERN.test(rawName)) {
      problems.add(where, 'name must be a string of letters, digits, "_", "." or "-"');
      ok = false;
    } else if (seenNames.has(rawName)) {
      problems.add(where, `duplicate rule name (first used by rule #${(seenNames.get(rawName) ?? 0) + 1})`);
      ok = false;
    } else {
      seenNames.set(rawName, index);
    }
    if (typeof raw.lane !== 'string') {
      problems.add(where, 'lane must be a string');
      ok = false;
    } else if (lanes.length > 0 && !laneSet.has(raw.lane)) {
      problems.add(where, `unknown lane "${raw.lane}" (declared lanes: ${lanes.join(', ')})`);
      ok = false;
    }
    if (raw.description !== undefined && typeof raw.description !== 'string') {
      problems.add(where, 'description must be a string');
    }
    let condition: Condition | null = null;
    if (raw.when !== undefined) {
      const c = readConditionMap(raw.when, `${where} when`, problems);
      if (c === undefined) ok = false;
      else condition = c;
    }
    if (ok) parsed.push({ name: rawName as string, lane: raw.lane as string, condition });
  });

  if (problems.list.length === 0) analyseRules(parsed, regions, sinks, problems);
  if (problems.list.length > 0) throw invalid(origin, problems.list);

  const decisions = parsed.map((r) => Object.freeze({ lane: r.lane, rule: r.name }));
  const predicates = parsed.slice(0, -1).map((r) => compile(r.condition as Condition));
  const fallback = decisions[decisions.length - 1] as RouteDecision;
  const count = predicates.length;
  const allowed = new Map([...regions].map(([region, r]) => [region, new Set(r.allowedLanes)]));
  const expediteEntries = expedite.map((e) => Object.freeze({ name: e.name, description: e.description }));
  const expeditePredicates = expedite.map((e) => compile(e.condition));
  const expediteCount = expeditePredicates.length;
  return Object.freeze({
    version: version as string,
    lanes: Object.freeze([...lanes]),
    sinks,
    regions,
    rules: Object.freeze(decisions),
    route(record: TaggedPattern): RouteDecision {
      for (let i = 0; i < count; i++) {
        if ((predicates[i] as Predicate)(record)) return decisions[i] as RouteDecision;
      }
      return fallback;
    },
    permits(region: string, lane: string): boolean {
      return allowed.get(region)?.has(lane) ?? true;
    },
    expedite: Object.freeze(expediteEntries),
    expedites(fields: PolicyFields): boolean {
      for (let i = 0; i < expediteCount; i++) {
        if ((expeditePredicates[i] as Predicate)(fields)) return true;
      }
      return false;
    },
  });
}

function invalid(origin: string, problems: readonly string[], cause?: unknown): PipelineError {
  return new PipelineError(
    ErrorCodes.POLICY_INVALID,
    `${origin}: invalid routing policy: ${problems.join('; ')}`,
    {
      cause,
      details: { origin, problems },
    },
  );
}

function readLanes(raw: unknown, problems: Problems): string[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.add('lanes', 'must be a non-empty list of lane names');
    return [];
  }
  const lanes: string[] = [];
  for (const lane of raw) {
    if (typeof lane !== 'string' || !LANE_PATTERN.test(lane)) {
      problems.add(
        'lanes',
        `${JSON.stringify(lane)} is not a lane name (lowercase letters, digits, "_", "-")`,
      );
    } else if (lanes.includes(lane)) {
      problems.add('lanes', `"${lane}" is declared twice`);
    } else {
      lanes.push(lane);
    }
  }
  return lanes;
}

/**
 * `expedite:`, optional: a list of `{ name, description?, when }` with the rules' `when`
 * grammar. Names are unique among the entries (they are not rule names: an expedite entry
 * routes nothing). No reachability analysis: a condition that never holds only expedites
 * nothing, and the order does not matter (any entry that holds expedites).
 */
function readExpedite(
  raw: unknown,
  problems: Problems,
): { name: string; description: string | undefined; condition: Condition }[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.add('expedite', 'must be a list of mappings with name and when');
    return [];
  }
  const entries: { name: string; description: string | undefined; condition: Condition }[] = [];
  const seen = new Map<string, number>();
  raw.forEach((item, index) => {
    const rawName = isPlainObject(item) ? item.name : undefined;
    const where =
      typeof rawName === 'string' ? `expedite #${index + 1} "${rawName}"` : `expedite #${index + 1}`;
    if (!isPlainObject(item)) {
      problems.add(where, 'must be a mapping with name and when');
      return;
    }
    for (const key of Object.keys(item)) {
      if (!EXPEDITE_KEYS.has(key))
        problems.add(where, `unknown key "${key}" (expected name, when, description)`);
    }
    let ok = true;
    if (typeof rawName !== 'string' || !NAME_PATTERN.test(rawName)) {
      problems.add(where, 'name must be a string of letters, digits, "_", "." or "-"');
      ok = false;
    } else if (seen.has(rawName)) {
      problems.add(
        where,
        `duplicate expedite name (first used by expedite #${(seen.get(rawName) ?? 0) + 1})`,
      );
      ok = false;
    } else {
      seen.set(rawName, index);
    }
    if (item.description !== undefined && typeof item.description !== 'string') {
      problems.add(where, 'description must be a string');
      ok = false;
    }
    if (item.when === undefined) {
      // Without a condition every record would be expedited, and then none is.
      problems.add(where, 'when is required (an unconditional entry would expedite every record)');
      return;
    }
    const condition = readConditionMap(item.when, `${where} when`, problems);
    if (condition === undefined || !ok) return;
    entries.push({ name: rawName as string, description: item.description as string | undefined, condition });
  });
  return entries;
}

/** A `when` mapping: every entry must hold. Returns undefined when it had problems. */
function readConditionMap(raw: unknown, where: string, problems: Problems): Condition | undefined {
  if (!isPlainObject(raw) || Object.keys(raw).length === 0) {
    problems.add(
      where,
      'must be a non-empty mapping of conditions (omit `when` only on the final default rule)',
    );
    return undefined;
  }
  const items: Condition[] = [];
  let ok = true;
  for (const [key, value] of Object.entries(raw)) {
    const item = readCondition(key, value, `${where}.${key}`, problems);
    if (item === undefined) ok = false;
    else items.push(item);
  }
  if (!ok) return undefined;
  return items.length === 1 ? items[0] : { type: 'all', items };
}

function readCondition(
  key: string,
  value: unknown,
  where: string,
  problems: Problems,
): Condition | undefined {
  if (key === 'all' || key === 'any') {
    if (!Array.isArray(value) || value.length === 0) {
      problems.add(where, 'must be a non-empty list of condition mappings');
      return undefined;
    }
    const items = value.map((v, i) => readConditionMap(v, `${where}[${i}]`, problems));
    if (items.some((i) => i === undefined)) return undefined;
    return { type: key, items: items as Condition[] };
  }
  if (key === 'score') return readScore(value, where, problems);
  if (STRING_FIELDS.has(key)) return readString(key as StringField, value, where, problems);
  problems.add(
    where,
    `unknown field "${key}" (known: ${[...STRING_FIELDS].join(', ')}, score, and the combinators all, any)`,
  );
  return undefined;
}

function readString(
  field: StringField,
  value: unknown,
  where: string,
  problems: Problems,
): Condition | undefined {
  const list = stringList;
  // Shorthands: `tier: enterprise` is eq, `label: [a, b]` is in.
  if (typeof value === 'string') return { type: 'string', field, kind: 'in', values: [value] };
  if (Array.isArray(value)) {
    const values = list(value);
    if (values) return { type: 'string', field, kind: 'in', values };
    problems.add(where, 'a list must be a non-empty list of strings');
    return undefined;
  }
  if (!isPlainObject(value) || Object.keys(value).length !== 1) {
    problems.add(
      where,
      `must be a string, a list of strings, or one of {${STRING_OPERATORS.join(' | ')}: …}`,
    );
    return undefined;
  }
  const [op, operand] = Object.entries(value)[0] as [string, unknown];
  if (op === 'eq') {
    if (typeof operand === 'string') return { type: 'string', field, kind: 'in', values: [operand] };
    problems.add(`${where}.eq`, 'must be a string');
    return undefined;
  }
  if (op === 'in' || op === 'not_in') {
    const values = list(operand);
    if (values) return { type: 'string', field, kind: op, values };
    problems.add(`${where}.${op}`, 'must be a non-empty list of strings');
    return undefined;
  }
  problems.add(where, `unknown operator "${op}" for ${field} (known: ${STRING_OPERATORS.join(', ')})`);
  return undefined;
}

function readScore(value: unknown, where: string, problems: Problems): Condition | undefined {
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    problems.add(where, `must be a mapping of bounds (${SCORE_OPERATORS.join(', ')})`);
    return undefined;
  }
  let ok = true;
  for (const [op, bound] of Object.entries(value)) {
    if (!(SCORE_OPERATORS as readonly string[]).includes(op)) {
      problems.add(where, `unknown operator "${op}" for score (known: ${SCORE_OPERATORS.join(', ')})`);
      ok = false;
    } else if (typeof bound !== 'number' || !Number.isFinite(bound) || bound < 0 || bound > 1) {
      problems.add(`${where}.${op}`, `must be a number in [0, 1], got ${JSON.stringify(bound)}`);
      ok = false;
    }
  }
  if ('gte' in value && 'gt' in value) problems.add(where, 'use either gte or gt, not both');
  if ('lte' in value && 'lt' in value) problems.add(where, 'use either lte or lt, not both');
  if (!ok || ('gte' in value && 'gt' in value) || ('lte' in value && 'lt' in value)) return undefined;
  const v = value as Partial<Record<(typeof SCORE_OPERATORS)[number], number>>;
  const range: ScoreRange = {
    lo: v.gt ?? v.gte ?? FULL_SCORE.lo,
    loOpen: v.gt !== undefined,
    hi: v.lt ?? v.lte ?? FULL_SCORE.hi,
    hiOpen: v.lt !== undefined,
  };
  return { type: 'score', range };
}

/** Disjunctive normal form of a condition, or null when it would exceed MAX_CONJUNCTS. */
function toDnf(condition: Condition): Conjunct[] | null {
  switch (condition.type) {
    case 'string':
      return [
        {
          strings: new Map([[condition.field, { kind: condition.kind, values: new Set(condition.values) }]]),
          score: FULL_SCORE,
          scored: false,
        },
      ];
    case 'score':
      return [{ strings: new Map(), score: condition.range, scored: true }];
    case 'any': {
      const out: Conjunct[] = [];
      for (const item of condition.items) {
        const d = toDnf(item);
        if (d === null || out.length + d.length > MAX_CONJUNCTS) return null;
        out.push(...d);
      }
      return out;
    }
    case 'all': {
      let acc: Conjunct[] = [TRUE_CONJUNCT];
      for (const item of condition.items) {
        const d = toDnf(item);
        if (d === null || acc.length * d.length > MAX_CONJUNCTS) return null;
        acc = acc.flatMap((a) => d.map((b) => intersectConjuncts(a, b)));
      }
      return acc;
    }
  }
}

/**
 * The checks across rules: only the last rule is unconditional, no rule is unreachable or
 * contradictory, and no rule routes a record of a restricted region to a lane it forbids.
 */
function analyseRules(
  rules: readonly { name: string; lane: string; condition: Condition | null }[],
  regions: ReadonlyMap<string, RegionRestriction>,
  sinks: ReadonlyMap<string, readonly Sink[]> | undefined,
  problems: Problems,
): void {
  const last = rules.length - 1;
  rules.forEach((rule, index) => {
    if (rule.condition === null && index < last) {
      problems.add(
        ruleLabel(index, rule.name),
        `has no \`when\`, so it matches everything and rules #${index + 2}..#${last + 1} are unreachable; only the last rule may be unconditional`,
      );
    }
  });
  const lastRule = rules[last];
  if (lastRule && lastRule.condition !== null) {
    problems.add(
      ruleLabel(last, lastRule.name),
      'the last rule must be the unconditional default (a rule without `when`), so that every record gets a lane',
    );
  }
  if (problems.list.length > 0) return;

  // Each rule's live conjuncts (null: too large to analyse), computed once for both checks.
  const analysed: AnalysedRule[] = rules.map((rule) => {
    if (rule.condition === null) return { name: rule.name, lane: rule.lane, conjuncts: UNCONDITIONAL };
    const dnf = toDnf(rule.condition);
    return {
      name: rule.name,
      lane: rule.lane,
      conjuncts: dnf === null ? null : dnf.filter((c) => !isEmptyConjunct(c)),
    };
  });

  // Earlier rules' conjuncts, each tagged with its rule, to explain which rules shadow a later one.
  const earlier: { conjunct: Conjunct; rule: number }[] = [];
  analysed.slice(0, last).forEach((rule, index) => {
    const live = rule.conjuncts;
    if (live === null) return; // too large to analyse: neither checked nor used as a shadow
    if (live.length === 0) {
      problems.add(ruleLabel(index, rule.name), 'can never match: its conditions contradict each other');
      return;
    }
    const shadows = new Set<number>();
    const covered = live.every((c) => {
      const by = earlier.find((e) => subsumes(e.conjunct, c));
      if (by) shadows.add(by.rule);
      return by !== undefined;
    });
    if (covered) {
      const names = [...shadows].map((i) => ruleLabel(i, rules[i]?.name)).join(', ');
      problems.add(
        ruleLabel(index, rule.name),
        `is unreachable: every record it matches is already matched by ${names}`,
      );
    }
    for (const conjunct of live) earlier.push({ conjunct, rule: index });
  });
  checkRegionalRules(analysed, regions, sinks, problems);
}

/** A field's value, or undefined when the stage does not know it yet (label before inference). */
const STRING_GETTERS: Record<StringField, (r: PolicyFields) => string | undefined> = {
  label: (r) => r.inference?.label,
  source: (r) => r.source,
  kind: (r) => r.kind,
  tenant: (r) => r.tenant,
  tier: (r) => r.tier,
  region: (r) => r.region,
};

function compile(condition: Condition): Predicate {
  switch (condition.type) {
    case 'string': {
      const get = STRING_GETTERS[condition.field];
      const values = condition.values;
      // An unknown value (undefined) is in no set and, for not_in, not outside one either: a
      // condition on a field the stage does not know yet is not met.
      if (values.length === 1) {
        const only = values[0] as string;
        if (condition.kind === 'in') return (r) => get(r) === only;
        return (r) => {
          const v = get(r);
          return v !== undefined && v !== only;
        };
      }
      const set = new Set<string | undefined>(values);
      if (condition.kind === 'in') return (r) => set.has(get(r));
      return (r) => {
        const v = get(r);
        return v !== undefined && !set.has(v);
      };
    }
    case 'score': {
      const { lo, loOpen, hi, hiOpen } = condition.range;
      // NaN compares false both ways, so a record without a usable score (or without a score
      // yet, before inference) matches no score condition.
      const score = (r: PolicyFields) => (r.inference === undefined ? Number.NaN : r.inference.score);
      if (loOpen && hiOpen)
        return (r) => {
          const s = score(r);
          return s > lo && s < hi;
        };
      if (loOpen)
        return (r) => {
          const s = score(r);
          return s > lo && s <= hi;
        };
      if (hiOpen)
        return (r) => {
          const s = score(r);
          return s >= lo && s < hi;
        };
      return (r) => {
        const s = score(r);
        return s >= lo && s <= hi;
      };
    }
    case 'all': {
      const parts = condition.items.map(compile);
      if (parts.length === 2) {
        const [a, b] = parts as [Predicate, Predicate];
        return (r) => a(r) && b(r);
      }
      return (r) => {
        for (let i = 0; i < parts.length; i++) if (!(parts[i] as Predicate)(r)) return false;
        return true;
      };
    }
    case 'any': {
      const parts = condition.items.map(compile);
      return (r) => {
        for (let i = 0; i < parts.length; i++) if ((parts[i] as Predicate)(r)) return true;
        return false;
      };
    }
  }
}
