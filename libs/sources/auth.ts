/**
 * auth: login attempts from an identity provider (raw schema schemas/sources/auth.avsc):
 * how they map to the canonical record and what the account-takeover model reads from them.
 */
import { loadSchema } from '@patternflow/records';
import type { SourcePack } from './contract.ts';
import { contextFeatures, defineFeatures } from './features.ts';
import { type CanonicalMapping, createNormalizer } from './mapping.ts';

/**
 * The categories the features encode, in code order (reordering one means retraining).
 * Generators draw from the same lists.
 */
export const AUTH_VOCABULARY = {
  outcomes: ['success', 'failure', 'mfa_challenge', 'locked'],
  methods: ['password', 'sso', 'passkey', 'magic_link'],
  /** Cloud/VPS ASNs: logins from these are rarely humans at home. */
  hostingAsns: [14061, 16276, 24940, 63949, 20473, 45102, 9009],
} as const;

/** User agents of scripts and headless browsers. */
const AUTOMATION_UA = /python-requests|curl\/|Go-http-client|HeadlessChrome|okhttp|axios/i;

const { outcomes, methods, hostingAsns } = AUTH_VOCABULARY;

const mapping: CanonicalMapping = {
  source: 'auth',
  kind: 'login',
  fields: {
    id: { from: 'event_id', as: 'string' },
    event_time: { from: 'timestamp_ms', as: 'epoch-millis' },
    tenant: { from: 'tenant', as: 'string' },
    tier: { from: 'tier', as: 'tier' },
    region: { from: 'region', as: 'region' },
  },
};

const features = defineFeatures(mapping.source, [
  ...contextFeatures,
  ['outcome_code', (r) => r.code(r.str('outcome'), outcomes)],
  ['method_code', (r) => r.code(r.str('method'), methods)],
  ['privileged', (r) => (r.bool('user.privileged') ? 1 : 0)],
  ['mfa_enrolled', (r) => (r.bool('user.mfa_enrolled') ? 1 : 0)],
  ['account_age_log', (r) => Math.log1p(r.num('user.account_age_days'))],
  ['hosting_asn', (r) => ((hostingAsns as readonly number[]).includes(r.num('client.asn')) ? 1 : 0)],
  ['ip_risk', (r) => r.num('client.ip_risk')],
  ['automation_user_agent', (r) => (AUTOMATION_UA.test(r.str('client.user_agent')) ? 1 : 0)],
  ['device_known', (r) => (r.bool('client.device_known') ? 1 : 0)],
  [
    'away_from_home',
    (r) => {
      const home = r.optStr('context.home_country');
      return home === null ? -1 : home === r.str('client.country') ? 0 : 1;
    },
  ],
  ['failed_attempts_1h', (r) => r.num('context.failed_attempts_1h')],
  ['users_from_ip_log', (r) => Math.log1p(r.num('context.distinct_users_from_ip_1h'))],
  [
    'travel_speed_kmh_log',
    (r) => {
      if (!r.has('context.km_from_last_login') || !r.has('context.minutes_since_last_login')) return -1;
      const hours = Math.max(r.num('context.minutes_since_last_login'), 1) / 60;
      return Math.log1p(r.num('context.km_from_last_login') / hours);
    },
  ],
  ['sensitive_actions_10m', (r) => r.optNum('session.sensitive_actions_10m', -1)],
  ['api_token_created', (r) => r.optBool('session.api_token_created', -1)],
]);

export const auth: SourcePack = {
  source: mapping.source,
  kind: mapping.kind,
  rawSchema: loadSchema('sources/auth'),
  mapping,
  normalize: createNormalizer(mapping),
  features,
};
