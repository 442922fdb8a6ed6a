/**
 * auth: login attempts from an identity provider, labelled account_takeover | normal.
 *
 * Takeovers come as credential stuffing (many users from one risky IP, failures before a
 * hit), session hijack (impossible travel on an unknown device, then sensitive changes)
 * and MFA-fatigue/phishing (enrolled user, hosting ASN, unknown device, off-hours). Normal
 * traffic contains their look-alikes: corporate NAT (many users per IP, clean reputation),
 * forgotten passwords, VPN travellers and new phones. Privileged and free-tier accounts are
 * targeted more; labels carry investigation noise.
 */
import { AUTH_VOCABULARY, localHour } from '@patternflow/sources';
import type { LabelledEvent, SourceGenerator } from './contract.ts';
import {
  clamp,
  FOREIGN_COUNTRIES,
  pickTenant,
  poissonEventStream,
  REGION_COUNTRIES,
  round,
  type Tenant,
} from './population.ts';
import type { Rng } from './prng.ts';

const SOURCE = 'auth';
const LABELS = ['normal', 'account_takeover'] as const;
const OUTCOMES = AUTH_VOCABULARY.outcomes;
const METHODS = AUTH_VOCABULARY.methods;
const HOSTING_ASNS: readonly number[] = AUTH_VOCABULARY.hostingAsns;
const CONSUMER_ASNS = [3320, 7922, 701, 2856, 3215, 9829, 4134, 17676, 28573, 12322];
const UA_HUMAN = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36',
];
const UA_TOOLS = [
  'python-requests/2.31.0',
  'curl/8.5.0',
  'Go-http-client/1.1',
  'Mozilla/5.0 HeadlessChrome/123.0',
];

type Scenario =
  | 'normal'
  | 'corporate_nat'
  | 'forgot_password'
  | 'vpn_traveller'
  | 'new_phone'
  | 'credential_stuffing'
  | 'session_hijack'
  | 'mfa_phish';

const TIER_ATTACK_FACTOR: Record<string, number> = { enterprise: 0.6, business: 0.9, standard: 1, free: 1.7 };

function ipFor(rng: Rng): string {
  return `${rng.int(1, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}

function generateLogin(rng: Rng, tenants: readonly Tenant[], eventTime: number): LabelledEvent {
  const tenant = pickTenant(rng, tenants);
  const home = rng.pick(REGION_COUNTRIES[tenant.region]!);
  const hour = localHour(eventTime, tenant.region);
  const offHours = hour < 6 || hour >= 22;
  const privileged = rng.chance(0.08);
  const factor = TIER_ATTACK_FACTOR[tenant.tier]! * (privileged ? 2.5 : 1) * (offHours ? 1.6 : 1);
  const scenario = rng.weighted<Scenario>([
    ['normal', 0.84],
    ['corporate_nat', 0.06],
    ['forgot_password', 0.03],
    ['vpn_traveller', 0.025],
    ['new_phone', 0.025],
    ['credential_stuffing', 0.012 * factor],
    ['session_hijack', 0.007 * factor],
    ['mfa_phish', 0.006 * factor],
  ]);
  const attack =
    scenario === 'credential_stuffing' || scenario === 'session_hijack' || scenario === 'mfa_phish';

  let mfa = rng.chance(tenant.tier === 'enterprise' ? 0.85 : tenant.tier === 'free' ? 0.25 : 0.55);
  let method: (typeof METHODS)[number] = rng.weighted([
    ['password', 0.55],
    ['sso', tenant.tier === 'enterprise' || tenant.tier === 'business' ? 0.35 : 0.05],
    ['passkey', 0.08],
    ['magic_link', 0.05],
  ]);
  let outcome: (typeof OUTCOMES)[number] = rng.chance(0.95) ? 'success' : 'failure';
  let country = home;
  let asn = rng.pick(CONSUMER_ASNS);
  let ipRisk = clamp(rng.logNormal(Math.log(6), 0.8), 0, 100);
  let ua = rng.pick(UA_HUMAN);
  let deviceKnown = rng.chance(0.9);
  let failed = rng.chance(0.9) ? 0 : rng.int(1, 2);
  let usersFromIp = rng.int(1, 3);
  let minutesSince: number | null = rng.chance(0.92) ? rng.logNormal(Math.log(600), 1.5) : null;
  let km: number | null = minutesSince === null ? null : rng.logNormal(Math.log(5), 1.3);
  let sensitive = rng.chance(0.95) ? 0 : 1;
  let tokenCreated = rng.chance(0.01);
  const accountAgeDays = Math.round(rng.logNormal(Math.log(500), 1));

  switch (scenario) {
    case 'normal':
      break;
    case 'corporate_nat':
      usersFromIp = rng.int(20, 600);
      deviceKnown = rng.chance(0.85);
      ipRisk = clamp(rng.logNormal(Math.log(4), 0.6), 0, 100);
      method = rng.chance(0.6) ? 'sso' : 'password';
      break;
    case 'forgot_password':
      failed = rng.int(3, 9);
      outcome = rng.weighted([
        ['success', 0.55],
        ['failure', 0.3],
        ['locked', 0.15],
      ]);
      deviceKnown = rng.chance(0.92);
      method = 'password';
      break;
    case 'vpn_traveller':
      country = rng.pick(FOREIGN_COUNTRIES);
      asn = rng.chance(0.5) ? rng.pick(HOSTING_ASNS) : rng.pick(CONSUMER_ASNS);
      minutesSince = rng.uniform(20, 600);
      km = rng.uniform(800, 12_000);
      deviceKnown = rng.chance(0.9);
      ipRisk = clamp(rng.logNormal(Math.log(25), 0.6), 0, 100);
      break;
    case 'new_phone':
      deviceKnown = false;
      ua = UA_HUMAN[rng.chance(0.5) ? 2 : 4]!;
      outcome = mfa ? (rng.chance(0.7) ? 'mfa_challenge' : 'success') : 'success';
      sensitive = rng.chance(0.3) ? 1 : 0;
      break;
    case 'credential_stuffing':
      method = 'password';
      usersFromIp = rng.int(8, 3000);
      failed = rng.int(0, 25);
      ipRisk = clamp(rng.normal(65, 20), 0, 100);
      asn = rng.chance(0.7) ? rng.pick(HOSTING_ASNS) : rng.pick(CONSUMER_ASNS);
      country = rng.chance(0.75) ? rng.pick(FOREIGN_COUNTRIES) : home;
      ua = rng.chance(0.6) ? rng.pick(UA_TOOLS) : rng.pick(UA_HUMAN);
      deviceKnown = false;
      mfa = rng.chance(0.2);
      outcome = rng.weighted([
        ['failure', 0.7],
        ['success', mfa ? 0.05 : 0.25],
        ['mfa_challenge', mfa ? 0.2 : 0],
        ['locked', 0.05],
      ]);
      break;
    case 'session_hijack':
      outcome = 'success';
      method = rng.chance(0.5) ? 'sso' : 'password';
      deviceKnown = rng.chance(0.1);
      country = rng.pick(FOREIGN_COUNTRIES);
      minutesSince = rng.uniform(2, 120);
      km = rng.uniform(1500, 12_000);
      sensitive = rng.int(0, 6);
      tokenCreated = rng.chance(0.5);
      ipRisk = clamp(rng.logNormal(Math.log(30), 0.7), 0, 100);
      break;
    case 'mfa_phish':
      mfa = true;
      outcome = rng.chance(0.8) ? 'success' : 'mfa_challenge';
      asn = rng.pick(HOSTING_ASNS);
      deviceKnown = false;
      country = rng.chance(0.5) ? home : rng.pick(FOREIGN_COUNTRIES);
      sensitive = rng.int(1, 5);
      tokenCreated = rng.chance(0.6);
      ipRisk = clamp(rng.logNormal(Math.log(20), 0.8), 0, 100);
      break;
  }

  let label: (typeof LABELS)[number] = attack ? 'account_takeover' : 'normal';
  if (attack && rng.chance(0.06)) label = 'normal';
  else if (!attack && rng.chance(0.002)) label = 'account_takeover';

  const event: Record<string, unknown> = {
    event_id: `evt_${rng.hex(24)}`,
    tenant: tenant.id,
    tier: tenant.tier,
    region: tenant.region,
    timestamp_ms: eventTime,
    outcome,
    method,
    user: {
      id: `u-${rng.hex(10)}`,
      account_age_days: Math.min(accountAgeDays, 20_000),
      privileged,
      mfa_enrolled: mfa,
    },
    client: {
      ip: ipFor(rng),
      asn,
      country,
      ip_risk: round(ipRisk, 1),
      user_agent: ua,
      device_known: deviceKnown,
    },
    context: {
      failed_attempts_1h: failed,
      distinct_users_from_ip_1h: usersFromIp,
      km_from_last_login: km === null ? null : round(km, 1),
      minutes_since_last_login: minutesSince === null ? null : round(minutesSince, 2),
      home_country: rng.chance(0.97) ? home : null,
    },
    session:
      outcome === 'success'
        ? { id: `s-${rng.hex(16)}`, sensitive_actions_10m: sensitive, api_token_created: tokenCreated }
        : null,
  };
  return { source: SOURCE, event, label };
}

export const authGenerator: SourceGenerator = {
  source: SOURCE,
  labels: LABELS,
  create: (options) => poissonEventStream(SOURCE, 'org-', 45, options, generateLogin),
};
