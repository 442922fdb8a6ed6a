/**
 * netflow: flow records from a collector, labelled benign | port_scan | ddos |
 * brute_force | exfiltration (benign ~87%).
 *
 * Each attack has benign look-alikes: the internal vulnerability scanner (connect scans,
 * daytime) vs SYN scans; flash crowds to a web front (full TCP, normal packet sizes) vs
 * floods; admins on SSH (few long sessions) vs password guessing (many short ones);
 * nightly off-site backups to big cloud ASNs vs exfiltration to odd ASNs. DDoS is
 * aimed more at enterprise tenants, scans at everyone; labels carry analyst noise.
 */
import { localHour, NETFLOW_VOCABULARY } from '@patternflow/sources';
import type { LabelledEvent, SourceGenerator } from './contract.ts';
import { pickTenant, poissonEventStream, round, type Tenant } from './population.ts';
import type { Rng } from './prng.ts';

const SOURCE = 'netflow';
const LABELS = ['benign', 'port_scan', 'ddos', 'brute_force', 'exfiltration'] as const;
type Label = (typeof LABELS)[number];
const PROTOCOLS = NETFLOW_VOCABULARY.protocols;
const CLOUD_ASNS: readonly number[] = NETFLOW_VOCABULARY.cloudAsns;
const OTHER_ASNS = [3320, 7922, 4134, 12389, 9009, 14061, 24940, 200019, 49981, 62240];
const AUTH_PORTS: readonly number[] = NETFLOW_VOCABULARY.authPorts;

type Scenario =
  | 'web'
  | 'dns'
  | 'internal'
  | 'flash_crowd'
  | 'vuln_scanner'
  | 'admin_ssh'
  | 'backup'
  | Exclude<Label, 'benign'>;

const internalIp = (rng: Rng): string => `10.${rng.int(0, 40)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
const externalIp = (rng: Rng): string =>
  `${rng.int(11, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
const ephemeral = (rng: Rng): number => rng.int(32768, 60999);

interface Flow {
  protocol: (typeof PROTOCOLS)[number];
  srcInternal: boolean;
  dstInternal: boolean;
  srcPort: number;
  dstPort: number;
  srcAsn: number | null;
  dstAsn: number | null;
  durationMs: number;
  bytesToDst: number;
  bytesToSrc: number;
  packetsToDst: number;
  packetsToSrc: number;
  flags: { syn: number; ack: number; fin: number; rst: number; psh: number } | null;
  distinctDstPorts: number;
  distinctSrcIps: number;
  sameDstPort: number;
  app: string | null;
}

function tcpSession(rng: Rng, packets: number): Flow['flags'] {
  return {
    syn: 2,
    ack: Math.max(1, packets - 2),
    fin: rng.chance(0.9) ? 2 : 0,
    rst: rng.chance(0.08) ? 1 : 0,
    psh: Math.ceil(packets / 3),
  };
}

function baseFlow(rng: Rng): Flow {
  const packetsToDst = rng.int(4, 60);
  const packetsToSrc = Math.round(packetsToDst * rng.uniform(0.8, 3));
  return {
    protocol: 'TCP',
    srcInternal: true,
    dstInternal: false,
    srcPort: ephemeral(rng),
    dstPort: 443,
    srcAsn: null,
    dstAsn: rng.chance(0.6) ? rng.pick(CLOUD_ASNS) : rng.pick(OTHER_ASNS),
    durationMs: rng.logNormal(Math.log(1500), 1.3),
    bytesToDst: packetsToDst * rng.uniform(80, 600),
    bytesToSrc: packetsToSrc * rng.uniform(300, 1400),
    packetsToDst,
    packetsToSrc,
    flags: tcpSession(rng, packetsToDst),
    distinctDstPorts: rng.int(1, 6),
    distinctSrcIps: rng.int(1, 40),
    sameDstPort: rng.int(1, 15),
    app: 'https',
  };
}

function shapeFlow(rng: Rng, scenario: Scenario, night: boolean): Flow {
  const f = baseFlow(rng);
  switch (scenario) {
    case 'web':
      f.dstPort = rng.chance(0.85) ? 443 : 80;
      f.app = f.dstPort === 443 ? 'https' : 'http';
      break;
    case 'dns':
      f.protocol = 'UDP';
      f.flags = null;
      f.dstPort = 53;
      f.app = 'dns';
      f.packetsToDst = 1;
      f.packetsToSrc = 1;
      f.bytesToDst = rng.int(40, 90);
      f.bytesToSrc = rng.int(60, 500);
      f.durationMs = rng.uniform(1, 80);
      f.sameDstPort = rng.int(1, 60);
      break;
    case 'internal':
      f.dstInternal = true;
      f.dstAsn = null;
      f.dstPort = rng.pick([445, 389, 88, 5432, 3306, 8080, 22]);
      f.app = f.dstPort === 445 ? 'smb' : f.dstPort === 22 ? 'ssh' : null;
      f.bytesToDst *= rng.uniform(1, 20);
      break;
    case 'flash_crowd':
      // many clients hit one public service at once: like a flood in fan-in, not in shape
      f.srcInternal = false;
      f.dstInternal = true;
      f.srcAsn = rng.pick(OTHER_ASNS);
      f.dstAsn = null;
      f.distinctSrcIps = rng.int(300, 20_000);
      break;
    case 'vuln_scanner': {
      // the tenant's own scanner: full connect scans in office hours
      f.dstInternal = true;
      f.dstAsn = null;
      f.dstPort = rng.int(1, 10_000);
      f.app = null;
      f.packetsToDst = rng.int(2, 4);
      f.packetsToSrc = rng.int(1, 3);
      f.bytesToDst = f.packetsToDst * 60;
      f.bytesToSrc = f.packetsToSrc * rng.uniform(54, 300);
      f.durationMs = rng.uniform(1, 40);
      f.flags = {
        syn: 1,
        ack: f.packetsToDst,
        fin: rng.chance(0.5) ? 1 : 0,
        rst: rng.chance(0.6) ? 1 : 0,
        psh: 0,
      };
      f.distinctDstPorts = rng.int(50, 1200);
      break;
    }
    case 'admin_ssh':
      f.dstPort = 22;
      f.app = 'ssh';
      f.dstInternal = rng.chance(0.6);
      f.dstAsn = f.dstInternal ? null : rng.pick(CLOUD_ASNS);
      f.durationMs = rng.logNormal(Math.log(600_000), 1.2);
      f.sameDstPort = rng.int(1, 4);
      break;
    case 'backup': {
      f.dstAsn = rng.pick(CLOUD_ASNS);
      f.durationMs = rng.logNormal(Math.log(1_200_000), 0.8);
      f.bytesToDst = rng.logNormal(Math.log(3e9), 1);
      f.packetsToDst = Math.round(f.bytesToDst / 1400);
      f.bytesToSrc = f.bytesToDst * rng.uniform(0.005, 0.03);
      f.packetsToSrc = Math.round(f.packetsToDst / 2);
      f.flags = tcpSession(rng, Math.min(f.packetsToDst, 2_000_000_000));
      break;
    }
    case 'port_scan': {
      const internalAttacker = rng.chance(0.3);
      f.srcInternal = internalAttacker;
      f.srcAsn = internalAttacker ? null : rng.pick(OTHER_ASNS);
      f.dstInternal = true;
      f.dstAsn = null;
      f.protocol = rng.chance(0.85) ? 'TCP' : 'UDP';
      f.dstPort = rng.int(1, 65535);
      f.app = null;
      f.packetsToDst = 1;
      f.packetsToSrc = rng.chance(0.7) ? 1 : 0;
      f.bytesToDst = f.protocol === 'TCP' ? 44 : rng.int(28, 60);
      f.bytesToSrc = f.packetsToSrc * 40;
      f.durationMs = rng.uniform(0, 5);
      f.flags = f.protocol === 'TCP' ? { syn: 1, ack: 0, fin: 0, rst: f.packetsToSrc, psh: 0 } : null;
      f.distinctDstPorts = rng.int(15, 3000);
      f.distinctSrcIps = rng.int(1, 20);
      f.sameDstPort = 1;
      break;
    }
    case 'ddos': {
      f.srcInternal = false;
      f.srcAsn = rng.pick(OTHER_ASNS);
      f.dstInternal = true;
      f.dstAsn = null;
      const udp = rng.chance(0.55);
      f.protocol = udp ? 'UDP' : 'TCP';
      f.dstPort = udp ? rng.pick([53, 123, 443, 80, rng.int(1, 65535)]) : rng.pick([443, 80]);
      f.srcPort = udp ? rng.pick([53, 123, 1900, 11211, ephemeral(rng)]) : ephemeral(rng);
      f.app = udp ? rng.pick(['dns', 'ntp', null]) : f.dstPort === 443 ? 'https' : 'http';
      f.packetsToDst = rng.int(20, 5000);
      f.packetsToSrc = rng.chance(0.7) ? 0 : rng.int(1, 5);
      f.bytesToDst = f.packetsToDst * (udp ? rng.uniform(400, 1400) : rng.uniform(40, 70));
      f.bytesToSrc = f.packetsToSrc * 60;
      f.durationMs = rng.uniform(50, 20_000);
      f.flags = udp ? null : { syn: f.packetsToDst, ack: f.packetsToSrc, fin: 0, rst: 0, psh: 0 };
      f.distinctSrcIps = rng.int(150, 60_000);
      f.distinctDstPorts = rng.int(1, 3);
      break;
    }
    case 'brute_force': {
      f.srcInternal = rng.chance(0.15);
      f.srcAsn = f.srcInternal ? null : rng.pick(OTHER_ASNS);
      f.dstInternal = true;
      f.dstAsn = null;
      f.dstPort = rng.pick(AUTH_PORTS);
      f.app = ({ 22: 'ssh', 3389: 'rdp', 445: 'smb' } as Record<number, string>)[f.dstPort] ?? null;
      f.packetsToDst = rng.int(8, 30);
      f.packetsToSrc = rng.int(8, 30);
      f.bytesToDst = f.packetsToDst * rng.uniform(60, 200);
      f.bytesToSrc = f.packetsToSrc * rng.uniform(60, 250);
      f.durationMs = rng.uniform(200, 4000);
      f.flags = {
        syn: 2,
        ack: f.packetsToDst,
        fin: rng.chance(0.5) ? 2 : 0,
        rst: rng.chance(0.5) ? 1 : 0,
        psh: 4,
      };
      f.sameDstPort = rng.int(12, 600);
      f.distinctDstPorts = rng.int(1, 3);
      break;
    }
    case 'exfiltration': {
      f.dstAsn = rng.chance(0.75) ? rng.pick(OTHER_ASNS) : rng.pick(CLOUD_ASNS);
      const dnsTunnel = rng.chance(0.25);
      if (dnsTunnel) {
        f.protocol = 'UDP';
        f.flags = null;
        f.dstPort = 53;
        f.app = 'dns';
        f.packetsToDst = rng.int(200, 5000);
        f.packetsToSrc = f.packetsToDst;
        f.bytesToDst = f.packetsToDst * rng.uniform(180, 255);
        f.bytesToSrc = f.packetsToSrc * rng.uniform(60, 120);
        f.durationMs = rng.uniform(60_000, 900_000);
        f.sameDstPort = rng.int(30, 400);
      } else {
        f.dstPort = rng.pick([443, 443, 8443, 21, 22]);
        f.app = f.dstPort === 22 ? 'ssh' : f.dstPort === 21 ? null : 'https';
        f.bytesToDst = rng.logNormal(Math.log(night ? 4e8 : 1.2e8), 1.2);
        f.packetsToDst = Math.round(f.bytesToDst / 1400);
        f.bytesToSrc = f.bytesToDst * rng.uniform(0.002, 0.02);
        f.packetsToSrc = Math.max(1, Math.round(f.packetsToDst / 3));
        f.durationMs = rng.logNormal(Math.log(400_000), 1);
        f.flags = tcpSession(rng, Math.min(f.packetsToDst, 2_000_000_000));
      }
      break;
    }
  }
  return f;
}

function generateFlow(rng: Rng, tenants: readonly Tenant[], eventTime: number): LabelledEvent {
  const tenant = pickTenant(rng, tenants);
  const hour = localHour(eventTime, tenant.region);
  const night = hour < 6 || hour >= 22;
  const office = hour >= 8 && hour < 19;
  const ddosFactor = tenant.tier === 'enterprise' ? 2 : tenant.tier === 'free' ? 0.6 : 1;
  const scenario = rng.weighted<Scenario>([
    ['web', 0.5],
    ['dns', 0.15],
    ['internal', 0.12],
    ['flash_crowd', 0.012],
    ['vuln_scanner', office ? 0.02 : 0.003],
    ['admin_ssh', office ? 0.02 : 0.006],
    ['backup', night ? 0.03 : 0.004],
    ['port_scan', 0.04],
    ['ddos', 0.03 * ddosFactor],
    ['brute_force', 0.03],
    ['exfiltration', night ? 0.045 : 0.02],
  ]);
  const truth: Label =
    scenario === 'port_scan' ||
    scenario === 'ddos' ||
    scenario === 'brute_force' ||
    scenario === 'exfiltration'
      ? scenario
      : 'benign';
  let label: Label = truth;
  if (rng.chance(0.02))
    label = truth === 'benign' ? (rng.chance(0.1) ? rng.pick(LABELS.slice(1)) : 'benign') : 'benign';

  const f = shapeFlow(rng, scenario, night);
  const srcIp = f.srcInternal ? internalIp(rng) : externalIp(rng);
  const dstIp = f.dstInternal ? internalIp(rng) : externalIp(rng);
  const event: Record<string, unknown> = {
    flow_id: `fl-${rng.hex(20)}`,
    exporter: {
      tenant_id: tenant.id,
      tier: tenant.tier,
      region: tenant.region,
      device: `edge-${rng.int(1, 4)}`,
    },
    start_ts: round(eventTime / 1000, 3),
    duration_ms: round(f.durationMs, 3),
    protocol: f.protocol,
    src: { ip: srcIp, port: f.protocol === 'ICMP' ? 0 : f.srcPort, internal: f.srcInternal, asn: f.srcAsn },
    dst: { ip: dstIp, port: f.protocol === 'ICMP' ? 0 : f.dstPort, internal: f.dstInternal, asn: f.dstAsn },
    bytes: { to_dst: Math.round(f.bytesToDst), to_src: Math.round(f.bytesToSrc) },
    packets: {
      to_dst: Math.min(f.packetsToDst, 2_000_000_000),
      to_src: Math.min(f.packetsToSrc, 2_000_000_000),
    },
    tcp_flags: f.flags,
    window: {
      src_distinct_dst_ports: f.distinctDstPorts,
      dst_distinct_src_ips: f.distinctSrcIps,
      src_flows_same_dst_port: f.sameDstPort,
    },
    app: f.app,
  };
  return { source: SOURCE, event, label };
}

export const netflowGenerator: SourceGenerator = {
  source: SOURCE,
  labels: LABELS,
  create: (options) => poissonEventStream(SOURCE, 'net-', 40, options, generateFlow),
};
