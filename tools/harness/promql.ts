/**
 * The metric names a PromQL expression reads, found by a small scanner rather than a full
 * parser: what matters is every selector's name, and in PromQL a name can only be a bare
 * identifier that is not a function or aggregation (those are followed by `(` or by a
 * `by`/`without` clause), not a keyword, and not inside a label matcher `{…}`, a range
 * `[…]`, a grouping label list `by (…)` or a string. `{__name__="x"}` names x.
 */

/** Grouping modifiers: the parenthesised list after them holds label names, not metrics. */
const LABEL_LIST_KEYWORDS: ReadonlySet<string> = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);

/**
 * Aggregation operators are keywords in PromQL's grammar (a metric called `sum` must be
 * written `{__name__="sum"}`), whether the clause comes first (`sum by (x) (…)`) or last.
 */
const AGGREGATIONS: ReadonlySet<string> = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);

/** Keywords, case-insensitive as in PromQL; `inf` and `nan` are number literals. */
const KEYWORDS: ReadonlySet<string> = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
  ...LABEL_LIST_KEYWORDS,
  ...AGGREGATIONS,
]);

const IDENTIFIER_START = /[A-Za-z_:]/;
const IDENTIFIER_PART = /[A-Za-z0-9_:]/;
const NUMBER_OR_DURATION = /^(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?[A-Za-z0-9]*)/;
const NAME_MATCHER = /(?:^|[{,\s])__name__\s*=\s*(?:"([^"]*)"|'([^']*)'|`([^`]*)`)/g;

/** The distinct metric names `expression` selects, sorted. */
export function metricNamesOf(expression: string): string[] {
  const names = new Set<string>();
  const text = expression;
  let i = 0;

  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  /** Index just past the string literal opening at `start`. */
  const endOfString = (start: number): number => {
    const quote = text[start]!;
    let j = start + 1;
    while (j < text.length && text[j] !== quote) j += quote !== '`' && text[j] === '\\' ? 2 : 1;
    if (j >= text.length) throw new Error(`unterminated string at ${start} in: ${expression}`);
    return j + 1;
  };
  /** Index just past the bracket closing the one at `start`, skipping strings inside. */
  const endOfBracket = (start: number, close: string): number => {
    const open = text[start]!;
    let depth = 0;
    let j = start;
    while (j < text.length) {
      const c = text[j]!;
      if (c === '"' || c === "'" || c === '`') {
        j = endOfString(j);
        continue;
      }
      if (c === open) depth++;
      else if (c === close && --depth === 0) return j + 1;
      j++;
    }
    throw new Error(`unbalanced ${open} at ${start} in: ${expression}`);
  };

  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      i = endOfString(i);
    } else if (c === '{') {
      const end = endOfBracket(i, '}');
      for (const match of text.slice(i + 1, end - 1).matchAll(NAME_MATCHER)) {
        names.add((match[1] ?? match[2] ?? match[3])!);
      }
      i = end;
    } else if (c === '[') {
      i = endOfBracket(i, ']');
    } else if (c === '$') {
      // A dashboard variable ($stage, ${stage}, $__rate_interval) outside a string or range.
      i++;
      if (text[i] === '{') i = endOfBracket(i, '}');
      else while (i < text.length && IDENTIFIER_PART.test(text[i]!)) i++;
    } else if (/[0-9.]/.test(c) && NUMBER_OR_DURATION.test(text.slice(i))) {
      i += NUMBER_OR_DURATION.exec(text.slice(i))![0].length;
    } else if (IDENTIFIER_START.test(c)) {
      const start = i;
      while (i < text.length && IDENTIFIER_PART.test(text[i]!)) i++;
      const word = text.slice(start, i);
      skipSpace();
      const next = text[i];
      if (LABEL_LIST_KEYWORDS.has(word.toLowerCase())) {
        if (next === '(') i = endOfBracket(i, ')');
      } else if (next === '(' || KEYWORDS.has(word.toLowerCase())) {
        // a function call or a keyword: its arguments are scanned as they come
      } else {
        names.add(word);
      }
    } else {
      i++;
    }
  }
  return [...names].sort();
}
