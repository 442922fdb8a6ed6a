/**
 * Set algebra behind the unreachable-rule check. A rule's condition is expanded into
 * disjunctive normal form: a list of conjuncts, each a per-field constraint — a string
 * field is either a finite allowed set (`in`) or a co-finite one (`not_in`), the score is
 * one interval within [0, 1]. For such conjuncts "B matches only records A matches" is
 * decidable field by field, which keeps the check sound: it never calls a reachable rule
 * unreachable. It is not complete (see docs/routing.md, "Limits of the check").
 */

export type StringField = 'label' | 'source' | 'kind' | 'tenant' | 'tier' | 'region';

export interface StringSet {
  /** `in`: the field must be one of values; `not_in`: it must be none of them. */
  readonly kind: 'in' | 'not_in';
  readonly values: ReadonlySet<string>;
}

/** An interval of scores. Bounds are clamped to [0, 1], the range of a probability. */
export interface ScoreRange {
  readonly lo: number;
  readonly loOpen: boolean;
  readonly hi: number;
  readonly hiOpen: boolean;
}

/** A conjunction of per-field constraints; a field that is absent is unconstrained. */
export interface Conjunct {
  readonly strings: ReadonlyMap<StringField, StringSet>;
  readonly score: ScoreRange;
  /**
   * Whether some `score` condition is part of the conjunction. A record whose score is NaN
   * matches no score condition, even `{ gte: 0 }`, whose range is the full [0, 1]: so a
   * scored conjunct never contains an unscored one.
   */
  readonly scored: boolean;
}

export const FULL_SCORE: ScoreRange = { lo: 0, loOpen: false, hi: 1, hiOpen: false };
export const TRUE_CONJUNCT: Conjunct = { strings: new Map(), score: FULL_SCORE, scored: false };

export function intersectStrings(a: StringSet, b: StringSet): StringSet {
  if (a.kind === 'in' && b.kind === 'in') {
    return { kind: 'in', values: new Set([...a.values].filter((v) => b.values.has(v))) };
  }
  if (a.kind === 'in' || b.kind === 'in') {
    const allowed = a.kind === 'in' ? a : b;
    const excluded = a.kind === 'in' ? b : a;
    return { kind: 'in', values: new Set([...allowed.values].filter((v) => !excluded.values.has(v))) };
  }
  return { kind: 'not_in', values: new Set([...a.values, ...b.values]) };
}

export function intersectRanges(a: ScoreRange, b: ScoreRange): ScoreRange {
  const lo = a.lo > b.lo ? a : b.lo > a.lo ? b : { lo: a.lo, loOpen: a.loOpen || b.loOpen };
  const hi = a.hi < b.hi ? a : b.hi < a.hi ? b : { hi: a.hi, hiOpen: a.hiOpen || b.hiOpen };
  return { lo: lo.lo, loOpen: lo.loOpen, hi: hi.hi, hiOpen: hi.hiOpen };
}

export function isEmptyRange(r: ScoreRange): boolean {
  return r.lo > r.hi || (r.lo === r.hi && (r.loOpen || r.hiOpen));
}

export function isEmptyConjunct(c: Conjunct): boolean {
  if (isEmptyRange(c.score)) return true;
  for (const set of c.strings.values()) if (set.kind === 'in' && set.values.size === 0) return true;
  return false;
}

export function intersectConjuncts(a: Conjunct, b: Conjunct): Conjunct {
  const strings = new Map(a.strings);
  for (const [field, set] of b.strings) {
    const mine = strings.get(field);
    strings.set(field, mine ? intersectStrings(mine, set) : set);
  }
  return { strings, score: intersectRanges(a.score, b.score), scored: a.scored || b.scored };
}

/** inner ⊆ outer for string constraints, over an unbounded domain of strings. */
function stringSubset(inner: StringSet | undefined, outer: StringSet): boolean {
  if (inner === undefined) return outer.kind === 'not_in' && outer.values.size === 0;
  if (inner.kind === 'in') {
    for (const v of inner.values) if (outer.values.has(v) !== (outer.kind === 'in')) return false;
    return true;
  }
  // A co-finite set is never inside a finite one; inside another co-finite set when it excludes more.
  if (outer.kind === 'in') return false;
  for (const v of outer.values) if (!inner.values.has(v)) return false;
  return true;
}

function rangeSubset(inner: ScoreRange, outer: ScoreRange): boolean {
  if (isEmptyRange(inner)) return true;
  const loOk = inner.lo > outer.lo || (inner.lo === outer.lo && (!outer.loOpen || inner.loOpen));
  const hiOk = inner.hi < outer.hi || (inner.hi === outer.hi && (!outer.hiOpen || inner.hiOpen));
  return loOk && hiOk;
}

/** True when every record matching `inner` also matches `outer`. */
export function subsumes(outer: Conjunct, inner: Conjunct): boolean {
  if (isEmptyConjunct(inner)) return true;
  if (outer.scored && !inner.scored) return false;
  if (!rangeSubset(inner.score, outer.score)) return false;
  for (const [field, set] of outer.strings) {
    if (!stringSubset(inner.strings.get(field), set)) return false;
  }
  return true;
}
