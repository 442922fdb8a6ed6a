/**
 * payments: card transactions from an acquiring platform, labelled fraud | legit.
 *
 * Fraud comes in three modes that look nothing alike (card testing: tiny amounts at high
 * velocity; card-not-present takeover: a big basket from a new device abroad; skimmed
 * cards: card-present far from home), while legitimate travellers, big-ticket buyers and
 * new customers each imitate one fraud signal. Fraud is rare (~4%), more common for
 * free-tier merchants and at night, and labels are noisy (missed chargebacks, friendly fraud).
 */
import { localHour, PAYMENTS_VOCABULARY } from '@patternflow/sources';
import type { LabelledEvent, SourceGenerator } from './contract.ts';
import {
  FOREIGN_COUNTRIES,
  pickTenant,
  poissonEventStream,
  REGION_COUNTRIES,
  round,
  type Tenant,
} from './population.ts';
import type { Rng } from './prng.ts';

const SOURCE = 'payments';
const LABELS = ['legit', 'fraud'] as const;

/** Currency of each country (others pay in USD); rates and exponents are the vocabulary's. */
const COUNTRY_CURRENCY: Record<string, string> = {
  IE: 'EUR',
  FR: 'EUR',
  ES: 'EUR',
  PT: 'EUR',
  DE: 'EUR',
  AT: 'EUR',
  NL: 'EUR',
  GB: 'GBP',
  PL: 'PLN',
  CZ: 'CZK',
  US: 'USD',
  CA: 'CAD',
  MX: 'MXN',
  IN: 'INR',
  SG: 'SGD',
  LK: 'LKR',
  JP: 'JPY',
  KR: 'KRW',
  BR: 'BRL',
  AR: 'ARS',
  CL: 'CLP',
};

/** Typical basket in USD per merchant category. */
const MCC_TYPICAL_USD: Record<number, number> = {
  5411: 45,
  5812: 30,
  5541: 55,
  5732: 350,
  5816: 12,
  5944: 600,
  5311: 90,
  4511: 420,
  7011: 260,
  7995: 60,
  4814: 40,
  4829: 200,
  8398: 25,
};
const MCCS: readonly number[] = PAYMENTS_VOCABULARY.merchantCategories;
const EVERYDAY_MCCS = [5411, 5812, 5541, 5311, 4814, 5816];
const CHANNELS = PAYMENTS_VOCABULARY.channels;
const FUNDING = PAYMENTS_VOCABULARY.funding;
const THREE_DS = PAYMENTS_VOCABULARY.threeDsResults;
const BINS = ['411111', '424242', '510510', '545454', '601100', '371449', '356600', '401288'];

type Scenario =
  | 'normal'
  | 'traveller'
  | 'big_ticket'
  | 'new_customer'
  | 'card_testing'
  | 'cnp_takeover'
  | 'skimmed';

const TIER_FRAUD_FACTOR: Record<string, number> = { enterprise: 0.5, business: 0.8, standard: 1, free: 1.8 };

function generatePayment(rng: Rng, tenants: readonly Tenant[], eventTime: number): LabelledEvent {
  const tenant = pickTenant(rng, tenants);
  const countries = REGION_COUNTRIES[tenant.region]!;
  const hour = localHour(eventTime, tenant.region);
  const night = hour < 6 || hour >= 23;
  const fraudFactor = TIER_FRAUD_FACTOR[tenant.tier]! * (night ? 2.2 : 1);
  const scenario = rng.weighted<Scenario>([
    ['normal', 0.86],
    ['traveller', 0.035],
    ['big_ticket', 0.025],
    ['new_customer', 0.05],
    ['card_testing', 0.012 * fraudFactor],
    ['cnp_takeover', 0.016 * fraudFactor],
    ['skimmed', 0.008 * fraudFactor],
  ]);
  const fraud = scenario === 'card_testing' || scenario === 'cnp_takeover' || scenario === 'skimmed';

  const home = rng.pick(countries);
  const merchantCountry = rng.chance(0.9) ? rng.pick(countries) : rng.pick(FOREIGN_COUNTRIES);
  const currency = COUNTRY_CURRENCY[merchantCountry] ?? 'USD';
  const [exponent, usd] = PAYMENTS_VOCABULARY.currencies[currency]!;
  const eu = tenant.region.startsWith('eu-');

  let channel: (typeof CHANNELS)[number] = rng.weighted([
    ['pos', 0.45],
    ['ecom', 0.48],
    ['moto', 0.07],
  ]);
  let mcc = rng.pick(rng.chance(0.75) ? EVERYDAY_MCCS : MCCS);
  let accountAgeDays = Math.round(rng.logNormal(Math.log(900), 0.9));
  let txnCount = rng.poisson(1.8);
  let hasHistory = true;
  let funding: (typeof FUNDING)[number] = rng.weighted([
    ['credit', 0.5],
    ['debit', 0.44],
    ['prepaid', 0.06],
  ]);
  let cardCountry = home;
  let ipCountry = rng.chance(0.96) ? home : rng.pick(FOREIGN_COUNTRIES);
  let newDevice = rng.chance(0.08);
  let fingerprintAgeHours = rng.logNormal(Math.log(2500), 1.2);
  let ratio = rng.logNormal(0, 0.55); // amount / the card's 30-day average
  let distanceKm = rng.logNormal(Math.log(9), 1.1);
  let threeDs: (typeof THREE_DS)[number] | null =
    channel === 'ecom'
      ? eu
        ? rng.weighted<(typeof THREE_DS)[number] | null>([
            ['authenticated', 0.86],
            ['attempted', 0.09],
            ['failed', 0.03],
            [null, 0.02],
          ])
        : rng.weighted<(typeof THREE_DS)[number] | null>([
            [null, 0.7],
            ['authenticated', 0.25],
            ['attempted', 0.05],
          ])
      : null;
  let fixedAmountMinor: number | null = null;

  switch (scenario) {
    case 'normal':
      break;
    case 'traveller':
      // abroad with their own known device or card: looks like skimming/takeover on one axis
      if (rng.chance(0.6)) {
        channel = 'pos';
        distanceKm = rng.logNormal(Math.log(2500), 0.8);
        mcc = rng.pick([7011, 5812, 5411, 5541, 4511]);
      } else {
        channel = 'ecom';
        ipCountry = rng.pick(FOREIGN_COUNTRIES);
        newDevice = rng.chance(0.15);
        threeDs = rng.chance(0.8) ? 'authenticated' : null;
      }
      ratio = rng.logNormal(0.2, 0.6);
      break;
    case 'big_ticket':
      channel = rng.chance(0.7) ? 'ecom' : 'pos';
      mcc = rng.pick([5732, 5944, 4511, 7011]);
      ratio = rng.uniform(3, 18);
      accountAgeDays = Math.round(rng.logNormal(Math.log(1500), 0.6));
      newDevice = rng.chance(0.1);
      threeDs = channel === 'ecom' ? (rng.chance(0.85) ? 'authenticated' : null) : null;
      break;
    case 'new_customer':
      accountAgeDays = rng.int(0, 30);
      hasHistory = false;
      txnCount = rng.int(0, 2);
      newDevice = rng.chance(0.7);
      fingerprintAgeHours = rng.logNormal(Math.log(2), 1.5);
      break;
    case 'card_testing':
      channel = 'ecom';
      mcc = rng.pick([5816, 8398, 4814]);
      fixedAmountMinor = exponent === 0 ? rng.int(50, 400) : rng.int(50, 300);
      txnCount = rng.int(6, 60);
      newDevice = rng.chance(0.75);
      fingerprintAgeHours = rng.logNormal(Math.log(0.5), 1.2);
      ipCountry = rng.chance(0.6) ? rng.pick(FOREIGN_COUNTRIES) : home;
      funding = rng.weighted([
        ['credit', 0.5],
        ['debit', 0.2],
        ['prepaid', 0.3],
      ]);
      threeDs = rng.weighted<(typeof THREE_DS)[number] | null>([
        [null, 0.6],
        ['attempted', 0.3],
        ['failed', 0.1],
      ]);
      break;
    case 'cnp_takeover':
      channel = rng.chance(0.85) ? 'ecom' : 'moto';
      mcc = rng.pick([5732, 5944, 5311, 4829]);
      ratio = rng.uniform(2.5, 25);
      txnCount = rng.int(1, 6);
      newDevice = rng.chance(0.85);
      fingerprintAgeHours = rng.logNormal(Math.log(1), 1.5);
      ipCountry = rng.chance(0.7) ? rng.pick(FOREIGN_COUNTRIES) : home;
      threeDs =
        channel === 'ecom' && eu
          ? rng.weighted<(typeof THREE_DS)[number] | null>([
              ['failed', 0.3],
              ['attempted', 0.45],
              [null, 0.2],
              ['authenticated', 0.05],
            ])
          : rng.chance(0.9)
            ? null
            : 'attempted';
      break;
    case 'skimmed':
      channel = 'pos';
      mcc = rng.pick([5732, 5944, 5541, 5411, 5311]);
      ratio = rng.uniform(1.5, 9);
      distanceKm = rng.logNormal(Math.log(1800), 1);
      cardCountry = rng.chance(0.7) ? home : rng.pick(FOREIGN_COUNTRIES);
      funding = rng.chance(0.65) ? 'debit' : 'credit';
      break;
  }

  const avgUsd = MCC_TYPICAL_USD[mcc]! * rng.logNormal(0, 0.5);
  const avgMinor = Math.max(1, Math.round((avgUsd / usd) * 10 ** exponent));
  const amountMinor = fixedAmountMinor ?? Math.max(1, Math.min(2_000_000_000, Math.round(avgMinor * ratio)));
  const cardPresent = channel === 'pos';

  // Label noise: ~8% of fraud never gets a chargeback; ~0.3% of legit is disputed anyway.
  let label: (typeof LABELS)[number] = fraud ? 'fraud' : 'legit';
  if (fraud && rng.chance(0.08)) label = 'legit';
  else if (!fraud && rng.chance(0.003)) label = 'fraud';

  const event: Record<string, unknown> = {
    transaction_id: rng.uuid(),
    tenant_id: tenant.id,
    tier: tenant.tier,
    region: tenant.region,
    created_at: new Date(eventTime).toISOString(),
    amount: { value_minor: amountMinor, currency },
    channel,
    card: {
      bin: rng.pick(BINS),
      last4: String(rng.int(0, 9999)).padStart(4, '0'),
      country: cardCountry,
      funding,
      present: cardPresent,
    },
    merchant: { id: `m-${rng.hex(8)}`, mcc, country: merchantCountry },
    customer: {
      account_age_days: Math.min(accountAgeDays, 20_000),
      txn_count_24h: txnCount,
      avg_amount_minor_30d: hasHistory ? Math.min(avgMinor, 2_000_000_000) : null,
    },
    device:
      channel === 'pos'
        ? null
        : {
            ip_country: ipCountry,
            is_new: newDevice,
            fingerprint_age_hours: round(
              newDevice ? Math.min(fingerprintAgeHours, 24) : fingerprintAgeHours,
              3,
            ),
          },
    three_ds: threeDs === null ? null : { version: rng.chance(0.8) ? '2.2.0' : '2.1.0', result: threeDs },
    distance_from_home_km: cardPresent ? round(distanceKm, 1) : null,
  };
  return { source: SOURCE, event, label };
}

export const paymentsGenerator: SourceGenerator = {
  source: SOURCE,
  labels: LABELS,
  create: (options) => poissonEventStream(SOURCE, 'merch-', 60, options, generatePayment),
};
