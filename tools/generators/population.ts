/**
 * Who sends events and when: fixed tenant populations per source, Poisson arrival times,
 * skewed tenant volumes, and where customers of a region live.
 */
import type { Tier } from '@patternflow/records';
import { REGIONS } from '@patternflow/sources';
import { deriveSeed, Rng } from './prng.ts';

/** Country codes a region's customers mostly live in. */
export const REGION_COUNTRIES: Record<string, readonly string[]> = {
  'eu-west': ['IE', 'GB', 'FR', 'ES', 'PT'],
  'eu-central': ['DE', 'AT', 'PL', 'CZ', 'NL'],
  'us-east': ['US', 'CA'],
  'us-west': ['US', 'MX'],
  'ap-south': ['IN', 'SG', 'LK'],
  'ap-northeast': ['JP', 'KR'],
  'sa-east': ['BR', 'AR', 'CL'],
};

export const FOREIGN_COUNTRIES = [
  'NG',
  'RU',
  'CN',
  'VN',
  'RO',
  'UA',
  'TR',
  'ID',
  'BR',
  'US',
  'GB',
  'DE',
] as const;

export interface Tenant {
  id: string;
  tier: Tier;
  region: string;
}

/**
 * A fixed tenant population per source. It depends on the source name only, not on the
 * run's seed, so tenant ids stay the same across training, evaluation and load runs.
 */
export function tenantPool(source: string, prefix: string, count: number): Tenant[] {
  const rng = new Rng(deriveSeed(0x7e4a47, source));
  const tenants: Tenant[] = [];
  for (let i = 0; i < count; i++) {
    tenants.push({
      id: `${prefix}${rng.hex(6)}`,
      tier: rng.weighted<Tier>([
        ['enterprise', 1],
        ['business', 2.5],
        ['standard', 4],
        ['free', 2.5],
      ]),
      region: rng.pick(REGIONS),
    });
  }
  return tenants;
}

/**
 * A source's event stream: events arrive as a Poisson process (exponential gaps of mean
 * `meanGapMs`) from the source's fixed tenant population.
 */
export function poissonEventStream<E>(
  source: string,
  tenantPrefix: string,
  tenantCount: number,
  options: { seed: number; startTime: number; meanGapMs: number },
  generate: (rng: Rng, tenants: readonly Tenant[], at: number) => E,
): () => E {
  const rng = new Rng(options.seed);
  const tenants = tenantPool(source, tenantPrefix, tenantCount);
  let clock = options.startTime;
  return () => {
    clock += rng.exponential(options.meanGapMs);
    return generate(rng, tenants, Math.round(clock));
  };
}

/** Tenants differ in volume (a few big ones send most events), as real traffic does. */
export function pickTenant(rng: Rng, tenants: readonly Tenant[]): Tenant {
  const i = Math.floor(tenants.length * rng.next() ** 2);
  return tenants[Math.min(i, tenants.length - 1)]!;
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
