/**
 * Limits on the shape of a JSON value, checked in one linear pass over the text before
 * JSON.parse and schema validation run. A value can be valid JSON and still be hostile: a
 * few hundred kilobytes of `[[[[…` make recursive code overflow the stack, a million keys
 * make validation and flattening quadratic-ish, and `__proto__` keys reach object
 * prototypes once copied. The scan allocates nothing per token and never recurses.
 */

export interface JsonLimits {
  /** Nesting of objects and arrays. The raw schemas nest 3–4 levels. */
  maxDepth: number;
  /** Keys of one object, items of one array. */
  maxWidth: number;
  /** UTF-16 code units of one string (key or value). */
  maxStringLength: number;
  /** Characters of one number literal. */
  maxNumberLength: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = Object.freeze({
  maxDepth: 32,
  maxWidth: 10_000,
  maxStringLength: 64 * 1024,
  maxNumberLength: 64,
});

/** Key names that reach or replace object prototypes when a parsed object is copied or merged. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export type JsonLimitKind = 'depth' | 'width' | 'length' | 'forbidden-key';

export interface JsonLimitViolation {
  kind: JsonLimitKind;
  message: string;
  /** UTF-16 offset in the text where the limit was crossed. */
  position: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

const isNumberChar = (c: number) =>
  (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The first limit the text crosses, or undefined. Syntax errors are not its business
 * (JSON.parse reports them afterwards); whatever the text, it returns without throwing.
 */
export function findJsonLimitViolation(
  text: string,
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): JsonLimitViolation | undefined {
  // Per open container: is it an object, and how many entries it has so far. Bounded by
  // maxDepth because the scan stops as soon as the depth is crossed.
  const isObject: boolean[] = [];
  const entries: number[] = [];
  let depth = 0;
  // Whether the container at the current depth has a pending entry (something since the
  // last comma or the opening bracket).
  let pendingEntry = false;
  const length = text.length;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      let escaped = false;
      i = start;
      while (i < length) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) {
          escaped = true;
          i += 2;
          continue;
        }
        if (d === QUOTE) break;
        i += 1;
      }
      const end = Math.min(i, length);
      if (end - start > limits.maxStringLength) {
        return {
          kind: 'length',
          position: start,
          message: `a string of ${end - start} characters at position ${start} is longer than the limit of ${limits.maxStringLength}`,
        };
      }
      pendingEntry = true;
      // A key: the next non-space character is a colon inside an object.
      if (depth > 0 && isObject[depth - 1]) {
        let j = end + 1;
        while (j < length && isSpace(text.charCodeAt(j))) j += 1;
        if (text.charCodeAt(j) === COLON) {
          const key = keyText(text, start, end, escaped);
          if (key !== undefined && FORBIDDEN_KEYS.has(key)) {
            return {
              kind: 'forbidden-key',
              position: start - 1,
              message: `the key "${key}" at position ${start - 1} is not allowed (it can reach object prototypes)`,
            };
          }
        }
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth >= limits.maxDepth) {
        return {
          kind: 'depth',
          position: i,
          message: `the value nests deeper than ${limits.maxDepth} levels (at position ${i})`,
        };
      }
      isObject[depth] = c === OPEN_OBJECT;
      entries[depth] = 0;
      depth += 1;
      pendingEntry = false;
      i += 1;
      continue;
    }
    if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth > 0 && (pendingEntry || c === COMMA)) {
        const count = (entries[depth - 1] ?? 0) + 1;
        entries[depth - 1] = count;
        if (count > limits.maxWidth) {
          const what = isObject[depth - 1] ? 'an object with more than' : 'an array with more than';
          return {
            kind: 'width',
            position: i,
            message: `${what} ${limits.maxWidth} ${isObject[depth - 1] ? 'keys' : 'items'} (at position ${i})`,
          };
        }
      }
      pendingEntry = false;
      if (c !== COMMA && depth > 0) {
        depth -= 1;
        // The closed container is the parent's current entry.
        pendingEntry = depth > 0;
      }
      i += 1;
      continue;
    }
    if (isNumberChar(c)) {
      const start = i;
      while (i < length && isNumberChar(text.charCodeAt(i))) i += 1;
      if (i - start > limits.maxNumberLength) {
        return {
          kind: 'length',
          position: start,
          message: `a number of ${i - start} characters at position ${start} is longer than the limit of ${limits.maxNumberLength}`,
        };
      }
      pendingEntry = true;
      continue;
    }
    if (!isSpace(c) && c !== COLON) pendingEntry = true;
    i += 1;
  }
  return undefined;
}

/** The key's text with escapes decoded (`"\u005f_proto__"` is `__proto__` too); undefined when it is not valid JSON. */
function keyText(text: string, start: number, end: number, escaped: boolean): string | undefined {
  if (!escaped) return text.slice(start, end);
  try {
    return JSON.parse(text.slice(start - 1, end + 1)) as string;
  } catch {
    return undefined;
  }
}
