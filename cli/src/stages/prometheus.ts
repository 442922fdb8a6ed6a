/** One sample of the Prometheus text exposition format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Parses the text format the stages serve (prom-client): `name{a="x",b="y"} value`.
 * Comments and lines that do not parse are skipped: a scrape is read for what it has.
 */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (sample) samples.push(sample);
  }
  return samples;
}

function parseLine(line: string): Sample | undefined {
  const nameEnd = line.search(/[{ ]/);
  if (nameEnd <= 0) return undefined;
  const name = line.slice(0, nameEnd);
  const labels: Record<string, string> = {};
  let at = nameEnd;
  if (line[at] === '{') {
    at += 1;
    while (line[at] !== '}') {
      const eq = line.indexOf('=', at);
      if (eq < 0 || line[eq + 1] !== '"') return undefined;
      const label = line.slice(at, eq).trim();
      let value = '';
      let i = eq + 2;
      for (; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\') {
          i += 1;
          value += line[i] === 'n' ? '\n' : (line[i] ?? '');
        } else value += line[i];
      }
      if (i >= line.length) return undefined;
      Object.defineProperty(labels, label, { value, enumerable: true });
      at = i + 1;
      if (line[at] === ',') at += 1;
      if (at >= line.length) return undefined;
    }
    at += 1;
  }
  const [valueText] = line.slice(at).trim().split(/\s+/);
  const value = valueText === '+Inf' ? Number.POSITIVE_INFINITY : Number(valueText);
  if (valueText === undefined || valueText === '' || Number.isNaN(value)) return undefined;
  return { name, labels, value };
}

/** Sum of a metric's samples, optionally only those whose labels match `where`. */
export function sumOf(
  samples: readonly Sample[],
  name: string,
  where: (labels: Readonly<Record<string, string>>) => boolean = () => true,
): number {
  let sum = 0;
  for (const sample of samples) if (sample.name === name && where(sample.labels)) sum += sample.value;
  return sum;
}

/** A metric's samples summed per value of one label. */
export function sumBy(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of samples) {
    if (sample.name !== name) continue;
    const key = sample.labels[label] ?? '';
    Object.defineProperty(out, key, {
      value: (out[key] ?? 0) + sample.value,
      enumerable: true,
      writable: true,
    });
  }
  return out;
}
