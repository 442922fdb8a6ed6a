/**
 * netflow: flow records from a collector (raw schema schemas/sources/netflow.avsc): how
 * they map to the canonical record and what the attack model reads from them.
 */
import { loadSchema } from '@patternflow/records';
import type { SourcePack } from './contract.ts';
import { contextFeatures, defineFeatures } from './features.ts';
import { type CanonicalMapping, createNormalizer } from './mapping.ts';

/**
 * The categories the features encode, in code order (reordering one means retraining).
 * Generators draw from the same lists.
 */
export const NETFLOW_VOCABULARY = {
  protocols: ['TCP', 'UDP', 'ICMP'],
  apps: ['https', 'http', 'dns', 'ssh', 'rdp', 'smb', 'ntp', 'smtp'],
  /** Large cloud/CDN networks: where backups and SaaS traffic go. */
  cloudAsns: [16509, 15169, 8075, 13335, 20940],
  /** Ports of remote logins and file shares: what password guessing aims at. */
  authPorts: [22, 3389, 21, 445, 5900],
} as const;

const { protocols, apps, cloudAsns, authPorts } = NETFLOW_VOCABULARY;
const isAuthPort = (port: number): boolean => (authPorts as readonly number[]).includes(port);
const isCloudAsn = (asn: number): boolean => (cloudAsns as readonly number[]).includes(asn);

const mapping: CanonicalMapping = {
  source: 'netflow',
  kind: 'flow',
  fields: {
    id: { from: 'flow_id', as: 'string' },
    event_time: { from: 'start_ts', as: 'epoch-seconds' },
    tenant: { from: 'exporter.tenant_id', as: 'string' },
    tier: { from: 'exporter.tier', as: 'tier' },
    region: { from: 'exporter.region', as: 'region' },
  },
};

const log1p = Math.log1p;

const features = defineFeatures(mapping.source, [
  ...contextFeatures,
  ['protocol_code', (r) => r.code(r.str('protocol'), protocols)],
  ['src_internal', (r) => (r.bool('src.internal') ? 1 : 0)],
  ['dst_internal', (r) => (r.bool('dst.internal') ? 1 : 0)],
  ['dst_port', (r) => r.num('dst.port')],
  ['dst_port_is_auth', (r) => (isAuthPort(r.num('dst.port')) ? 1 : 0)],
  ['dst_cloud_asn', (r) => (r.has('dst.asn') ? (isCloudAsn(r.num('dst.asn')) ? 1 : 0) : -1)],
  ['app_code', (r) => r.code(r.optStr('app'), apps)],
  ['duration_log', (r) => log1p(r.num('duration_ms'))],
  ['bytes_to_dst_log', (r) => log1p(r.num('bytes.to_dst'))],
  ['bytes_to_src_log', (r) => log1p(r.num('bytes.to_src'))],
  ['packets_to_dst_log', (r) => log1p(r.num('packets.to_dst'))],
  ['packets_to_src_log', (r) => log1p(r.num('packets.to_src'))],
  ['bytes_per_packet_to_dst', (r) => r.num('bytes.to_dst') / Math.max(1, r.num('packets.to_dst'))],
  ['out_in_ratio_log', (r) => Math.log((r.num('bytes.to_dst') + 1) / (r.num('bytes.to_src') + 1))],
  [
    'syn_without_ack',
    (r) =>
      r.has('tcp_flags.syn') ? (r.num('tcp_flags.syn') > 0 && r.num('tcp_flags.ack') === 0 ? 1 : 0) : -1,
  ],
  ['rst_count', (r) => r.optNum('tcp_flags.rst', -1)],
  ['src_distinct_dst_ports_log', (r) => log1p(r.num('window.src_distinct_dst_ports'))],
  ['dst_distinct_src_ips_log', (r) => log1p(r.num('window.dst_distinct_src_ips'))],
  ['src_flows_same_dst_port_log', (r) => log1p(r.num('window.src_flows_same_dst_port'))],
]);

export const netflow: SourcePack = {
  source: mapping.source,
  kind: mapping.kind,
  rawSchema: loadSchema('sources/netflow'),
  mapping,
  normalize: createNormalizer(mapping),
  features,
};
