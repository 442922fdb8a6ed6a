/**
 * Shifted traffic, to show drift detection working: the same generators, with their events
 * moved after the fact (new countries, scaled amounts) and their class mix resampled. Same
 * seed and shift => same events. The unshifted stream is untouched (the models were
 * trained on it; generators.test.ts pins it).
 */
import type { LabelledEvent } from './contract.ts';
import type { Rng } from './prng.ts';

export interface DistributionShift {
  /**
   * Countries the customers now come from: payments' card.country and device.ip_country,
   * auth's client.country are drawn from this list (merchants and homes stay where they were).
   */
  countries?: readonly string[];
  /** Payment amounts (amount.value_minor) multiplied by this; the customer's 30-day average is not. */
  amountScale?: number;
  /**
   * Relative weight of each label (unlisted: 1): an event is kept with probability
   * weight / the largest weight, so { fraud: 10 } makes fraud ~10× more frequent.
   */
  attackMix?: Readonly<Record<string, number>>;
}

/** Why a shift cannot be used, or undefined. */
export function shiftProblem(shift: DistributionShift): string | undefined {
  if (shift.countries && (shift.countries.length === 0 || shift.countries.some((c) => !/^[A-Z]{2}$/.test(c))))
    return `shift.countries must be two-letter upper-case country codes, got ${JSON.stringify(shift.countries)}`;
  if (shift.amountScale !== undefined && !(shift.amountScale > 0 && Number.isFinite(shift.amountScale)))
    return `shift.amountScale must be a positive number, got ${shift.amountScale}`;
  for (const [label, weight] of Object.entries(shift.attackMix ?? {})) {
    if (!(weight >= 0 && Number.isFinite(weight)))
      return `shift.attackMix.${label} must be a non-negative number, got ${weight}`;
  }
  if (shift.attackMix && Object.values(shift.attackMix).every((w) => w === 0))
    return 'shift.attackMix gives every listed label weight 0';
  return undefined;
}

/**
 * Parses PF_LOADGEN_SHIFT: `countries=NG,BR;amountScale=5;attackMix=fraud:10,account_takeover:8`.
 * Throws with the reason on anything else.
 */
export function parseShift(text: string): DistributionShift {
  const shift: { countries?: string[]; amountScale?: number; attackMix?: Record<string, number> } = {};
  for (const part of text
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const [key, value = ''] = part.split('=', 2).map((s) => s.trim()) as [string, string?];
    if (key === 'countries') shift.countries = value.split(',').map((c) => c.trim());
    else if (key === 'amountScale') shift.amountScale = Number(value);
    else if (key === 'attackMix') {
      shift.attackMix = {};
      for (const pair of value.split(',')) {
        const [label, weight] = pair.split(':').map((s) => s.trim());
        if (!label || weight === undefined)
          throw new Error(`shift: attackMix wants label:weight pairs, got "${pair}"`);
        shift.attackMix[label] = Number(weight);
      }
    } else throw new Error(`shift: unknown setting "${key}" (countries, amountScale, attackMix)`);
  }
  const problem = shiftProblem(shift);
  if (problem) throw new Error(problem);
  return shift;
}

const labelWeight = (shift: DistributionShift, label: string) => shift.attackMix?.[label] ?? 1;

/**
 * The shifted version of one event, or null when the class mix drops it. `rng` is the
 * shift's own stream, so the underlying events are those of the unshifted stream.
 */
export function shiftEvent(item: LabelledEvent, shift: DistributionShift, rng: Rng): LabelledEvent | null {
  if (shift.attackMix) {
    const max = Math.max(1, ...Object.values(shift.attackMix));
    if (rng.next() >= labelWeight(shift, item.label) / max) return null;
  }
  const event = structuredClone(item.event) as Record<string, Record<string, unknown> | unknown>;
  const countries = shift.countries;
  if (item.source === 'payments') {
    const amount = event.amount as { value_minor: number };
    if (shift.amountScale !== undefined)
      amount.value_minor = Math.max(
        1,
        Math.min(2_000_000_000, Math.round(amount.value_minor * shift.amountScale)),
      );
    if (countries) {
      (event.card as Record<string, unknown>).country = rng.pick(countries);
      const device = event.device as Record<string, unknown> | null;
      if (device) device.ip_country = rng.pick(countries);
    }
  } else if (item.source === 'auth' && countries) {
    (event.client as Record<string, unknown>).country = rng.pick(countries);
  }
  return { ...item, event };
}
