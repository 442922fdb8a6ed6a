/**
 * payments: card transactions from an acquiring platform (raw schema
 * schemas/sources/payments.avsc): how they map to the canonical record and what the fraud
 * model reads from them.
 */
import { loadSchema } from '@patternflow/records';
import type { SourcePack } from './contract.ts';
import { contextFeatures, defineFeatures } from './features.ts';
import { type CanonicalMapping, createNormalizer } from './mapping.ts';

/**
 * The categories the features encode, in code order (a feature is an index into its list,
 * so reordering one means retraining). Generators draw from the same lists.
 */
export const PAYMENTS_VOCABULARY = {
  /** Minor-unit exponent and USD per major unit, per currency. */
  currencies: {
    EUR: [2, 1.08],
    GBP: [2, 1.27],
    PLN: [2, 0.25],
    CZK: [2, 0.044],
    USD: [2, 1],
    CAD: [2, 0.74],
    MXN: [2, 0.058],
    INR: [2, 0.012],
    SGD: [2, 0.74],
    LKR: [2, 0.0033],
    JPY: [0, 0.0067],
    KRW: [0, 0.00075],
    BRL: [2, 0.2],
    ARS: [2, 0.0011],
    CLP: [0, 0.0011],
  } as Readonly<Record<string, readonly [exponent: number, usdPerUnit: number]>>,
  merchantCategories: [4511, 4814, 4829, 5311, 5411, 5541, 5732, 5812, 5816, 5944, 7011, 7995, 8398],
  channels: ['ecom', 'pos', 'moto'],
  funding: ['credit', 'debit', 'prepaid'],
  threeDsResults: ['authenticated', 'attempted', 'failed'],
} as const;

const { currencies, merchantCategories, channels, funding, threeDsResults } = PAYMENTS_VOCABULARY;

const mapping: CanonicalMapping = {
  source: 'payments',
  kind: 'card_payment',
  fields: {
    id: { from: 'transaction_id', as: 'string' },
    event_time: { from: 'created_at', as: 'iso-8601' },
    tenant: { from: 'tenant_id', as: 'string' },
    tier: { from: 'tier', as: 'tier' },
    region: { from: 'region', as: 'region' },
  },
};

const log1p = Math.log1p;

const features = defineFeatures(mapping.source, [
  ...contextFeatures,
  [
    'amount_usd_log',
    (r) => {
      const [exp, usd] = currencies[r.str('amount.currency')] ?? [2, 1];
      return log1p((r.num('amount.value_minor') / 10 ** exp) * usd);
    },
  ],
  [
    'amount_to_avg_ratio',
    (r) => {
      const avg = r.optNum('customer.avg_amount_minor_30d', -1);
      return avg > 0 ? r.num('amount.value_minor') / avg : -1;
    },
  ],
  ['has_history', (r) => (r.has('customer.avg_amount_minor_30d') ? 1 : 0)],
  ['channel_code', (r) => r.code(r.str('channel'), channels)],
  ['card_present', (r) => (r.bool('card.present') ? 1 : 0)],
  ['funding_code', (r) => r.code(r.str('card.funding'), funding)],
  ['mcc_code', (r) => (merchantCategories as readonly number[]).indexOf(r.num('merchant.mcc'))],
  ['card_foreign_to_merchant', (r) => (r.str('card.country') === r.str('merchant.country') ? 0 : 1)],
  [
    'ip_country_mismatch',
    (r) => {
      const ip = r.optStr('device.ip_country');
      return ip === null ? -1 : ip === r.str('card.country') ? 0 : 1;
    },
  ],
  ['device_is_new', (r) => r.optBool('device.is_new', -1)],
  [
    'fingerprint_age_log',
    (r) => (r.has('device.fingerprint_age_hours') ? log1p(r.num('device.fingerprint_age_hours')) : -1),
  ],
  ['three_ds_code', (r) => r.code(r.optStr('three_ds.result'), threeDsResults)],
  ['distance_km_log', (r) => (r.has('distance_from_home_km') ? log1p(r.num('distance_from_home_km')) : -1)],
  ['account_age_log', (r) => log1p(r.num('customer.account_age_days'))],
  ['txn_count_24h', (r) => r.num('customer.txn_count_24h')],
]);

export const payments: SourcePack = {
  source: mapping.source,
  kind: mapping.kind,
  rawSchema: loadSchema('sources/payments'),
  mapping,
  normalize: createNormalizer(mapping),
  features,
};
