/**
 * A routing policy changed live: two priority-router replicas (processes) under steady
 * traffic of tagged records, `patternflow policy apply --wait` mid-stream. Every record is
 * routed exactly once, by the old or the new version (and by the rule that version picks for
 * it), no partition goes back to the old version once it routed by the new one, both
 * replicas end on the new version, and the time from the apply command to each replica's
 * first record routed by the new version is reported.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { taggedPattern } from '@patternflow/fixtures';
import {
  deleteNamespace,
  deleteValueSubjects,
  metricSum,
  reservePorts,
  runPatternflow,
  type ServiceFleet,
  stack,
  startServices,
} from '@patternflow/harness';
import { createKafka, ensureTopics, readTopicToEnd } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { type Policy, parsePolicy } from '@patternflow/policy';
import {
  loadSchema,
  type RoutedPattern,
  type TaggedPattern,
  topicNames,
  valueSubject,
} from '@patternflow/records';
import { createSchemaCodec, type SchemaEncoder } from '@patternflow/registry';

const runId = `pol${randomBytes(4).toString('hex')}`;
const topics = topicNames(runId);
const logDir = join(process.cwd(), '.stack', 'logs', runId);
const logger = createLogger({ service: 'e2e-policy', level: 'error' });
const kafka = createKafka({ brokers: stack.brokers, clientId: runId, logger, clientLogLevel: 'error' });
const seedFile = fileURLToPath(new URL('../../policies/routing.yaml', import.meta.url));
const seedYaml = readFileSync(seedFile, 'utf8');
const LANES = ['critical', 'standard', 'bulk'];
const PARTITIONS = 3;
/** 400 records/s for 9 s; the apply starts 3 s in. */
const TICK_MS = 25;
const PER_TICK = 10;
const TRAFFIC_MS = 9_000;
const APPLY_AT_MS = 3_000;

const dir = mkdtempSync(join(tmpdir(), `${runId}-`));
const candidateFile = join(dir, 'v2.yaml');
// v2: confident benign free/standard tenants stay in the hot store (standard) instead of bulk.
const candidateYaml = seedYaml
  .replace(/^version: ".*"$/m, 'version: "e2e-live-2"')
  .replace(/(- name: benign-low-tier[\s\S]*?lane: )bulk/, '$1standard');
writeFileSync(candidateFile, candidateYaml);
const policies = new Map<string, Policy>([
  [parsePolicy(seedYaml, 'seed').version, parsePolicy(seedYaml, 'seed')],
  ['e2e-live-2', parsePolicy(candidateYaml, 'candidate')],
]);
const [OLD, NEW] = [...policies.keys()] as [string, string];

const replicas: { name: string; fleet: ServiceFleet; logDir: string }[] = [];

before(async () => {
  await ensureTopics(kafka, [{ topic: topics.tagged, partitions: PARTITIONS }]);
  const basePort = await reservePorts(2);
  for (const [i, name] of ['a', 'b'].entries()) {
    const replicaLogs = join(logDir, name);
    replicas.push({
      name,
      logDir: replicaLogs,
      fleet: startServices({
        logDir: replicaLogs,
        basePort: basePort + i,
        only: ['priority-router'],
        env: {
          PF_KAFKA_BROKERS: stack.brokers.join(','),
          PF_REGISTRY_URL: stack.registryUrl,
          PF_TOPIC_NAMESPACE: runId,
          PF_LOG_LEVEL: 'info',
          PF_POLICY_FILE: seedFile,
          PF_PAUSE_WHEN_BACKLOG_ABOVE: '0',
          // Small batches: a swap lands between two of them.
          PF_MAX_BATCH_RECORDS: '50',
        },
      }),
    });
  }
  await Promise.all(replicas.map((r) => r.fleet.waitReady()));
});

after(async () => {
  await Promise.all(replicas.map((r) => r.fleet.stop()));
  await deleteNamespace(kafka, runId);
  await deleteValueSubjects(stack.registryUrl, [topics.tagged, ...LANES.map((lane) => topics.routed(lane))]);
  rmSync(dir, { recursive: true, force: true });
});

/** Record i of the traffic: a mix in which the rule v2 changes matters (free/standard, benign, outside the EU). */
function record(i: number): TaggedPattern {
  return taggedPattern({
    id: `${runId}-${i}`,
    tier: ['free', 'standard', 'business', 'enterprise', 'free'][i % 5] as string,
    region: ['us-east', 'eu-west', 'ap-south', 'us-west'][i % 4] as string,
    source: ['payments', 'auth', 'netflow'][i % 3] as string,
    inference: { label: i % 17 === 0 ? 'fraud' : 'legit', score: i % 9 === 0 ? 0.62 : 0.95 },
  });
}

interface Produced {
  partition: number;
  at: number;
}

/** Steady traffic until `durationMs` is over; each record with the partition it went to and when. */
async function produceSteadily(encoder: SchemaEncoder, durationMs: number): Promise<Map<string, Produced>> {
  const produced = new Map<string, Produced>();
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const started = Date.now();
  let n = 0;
  try {
    while (Date.now() - started < durationMs) {
      const tick = Date.now();
      const messages = Array.from({ length: PER_TICK }, () => {
        const r = record(n);
        const partition = n++ % PARTITIONS;
        produced.set(r.id, { partition, at: tick });
        return { partition, key: r.id, value: encoder.encode(r) };
      });
      await producer.send({ topic: topics.tagged, acks: -1, messages });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (Date.now() - tick))));
    }
  } finally {
    await producer.disconnect();
  }
  return produced;
}

const runCli = (args: string[]) =>
  runPatternflow(['--namespace', runId, ...args], {
    PF_KAFKA_BROKERS: stack.brokers.join(','),
    PF_REGISTRY_URL: stack.registryUrl,
  });

/** The input partitions a replica consumes, from its latest "joined consumer group" log line. */
function assignmentOf(replicaLogs: string): number[] {
  const lines = readFileSync(join(replicaLogs, 'priority-router.log'), 'utf8').split('\n');
  const joins = lines
    .filter((line) => line.includes('"joined consumer group"'))
    .map((line) => JSON.parse(line) as { assignment: Record<string, number[]> });
  return joins.at(-1)?.assignment[topics.tagged] ?? [];
}

async function readRouted(expected: number, timeoutMs: number) {
  const decoder = createSchemaCodec({ url: stack.registryUrl }).decoderFor(loadSchema('routed'));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const routed: { topic: string; value: RoutedPattern }[] = [];
    for (const lane of LANES) {
      const records = await readTopicToEnd({
        kafka,
        topic: topics.routed(lane),
        groupId: `${runId}.reader.${randomBytes(4).toString('hex')}`,
        logger,
      });
      for (const r of records) {
        routed.push({
          topic: r.topic,
          value: (await decoder.decode(r.value as Buffer)).value as RoutedPattern,
        });
      }
    }
    if (routed.length >= expected || Date.now() > deadline) return routed;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test('a policy applied mid-stream: nothing lost or routed twice, every record by the version and rule that routed it, both replicas switch', {
  timeout: 180_000,
}, async (t) => {
  const encoder = await createSchemaCodec({ url: stack.registryUrl }).encoderFor(
    valueSubject(topics.tagged),
    loadSchema('tagged'),
  );
  const traffic = produceSteadily(encoder, TRAFFIC_MS);
  await new Promise((resolve) => setTimeout(resolve, APPLY_AT_MS));
  const applyStarted = Date.now();
  const apply = await runCli([
    'policy',
    'apply',
    candidateFile,
    '--reason',
    'e2e: keep low tiers hot',
    '--wait',
    '--json',
  ]);
  const applyReturned = Date.now();
  assert.equal(apply.code, 0, apply.stderr);
  const applied = JSON.parse(apply.stdout);
  assert.equal(applied.waited, 'in-force');
  assert.equal(applied.replicas.length, 2, 'both replicas acknowledged');
  const produced = await traffic;
  assert.ok(
    [...produced.values()].some((p) => p.at > applyReturned + 2_000),
    'traffic went on well after the switch',
  );

  const routed = await readRouted(produced.size, 60_000);
  // Nothing lost, nothing routed twice.
  const seen = new Map<string, number>();
  for (const r of routed) seen.set(r.value.id, (seen.get(r.value.id) ?? 0) + 1);
  assert.equal(seen.size, produced.size, 'every produced id was routed');
  assert.deepEqual(
    [...seen].filter(([, n]) => n > 1),
    [],
    'no id routed twice',
  );
  assert.deepEqual(
    [...seen.keys()].filter((id) => !produced.has(id)),
    [],
    'only the ids produced',
  );

  // Each record carries the version that routed it, and exactly the decision of that version.
  for (const { topic, value } of routed) {
    const policy = policies.get(value.route.policy_version);
    assert.ok(policy, `${value.id}: version ${value.route.policy_version} is the old or the new one`);
    assert.deepEqual(policy.route(value), { lane: value.route.lane, rule: value.route.rule }, value.id);
    assert.equal(topic, topics.routed(value.route.lane));
  }

  // Per input partition, the switch happens once: no old-version record after a new-version one.
  const byPartition = new Map<number, { old: number; new: number; firstNew: number }>();
  for (const { value } of routed) {
    const partition = produced.get(value.id)!.partition;
    const p = byPartition.get(partition) ?? {
      old: 0,
      new: Number.POSITIVE_INFINITY,
      firstNew: Number.POSITIVE_INFINITY,
    };
    if (value.route.policy_version === OLD) p.old = Math.max(p.old, value.route.routed_at);
    else p.firstNew = Math.min(p.firstNew, value.route.routed_at);
    byPartition.set(partition, p);
  }
  for (const [partition, p] of byPartition) {
    assert.ok(p.firstNew < Number.POSITIVE_INFINITY, `partition ${partition} routed by ${NEW}`);
    assert.ok(
      p.old <= p.firstNew,
      `partition ${partition}: an ${OLD} record routed after the first ${NEW} one`,
    );
  }
  const changed = routed.filter(
    (r) => r.value.route.policy_version === NEW && r.value.route.rule === 'benign-low-tier',
  );
  assert.ok(
    changed.length > 0 && changed.every((r) => r.value.route.lane === 'standard'),
    'the new rule took effect',
  );

  // Each replica: its partitions switched, the records produced after --wait returned are all new.
  const figures: string[] = [];
  const allPartitions = new Set<number>();
  for (const { name, logDir: replicaLogs, fleet } of replicas) {
    const partitions = assignmentOf(replicaLogs);
    assert.ok(partitions.length > 0, `replica ${name} consumes some partition`);
    for (const p of partitions) allPartitions.add(p);
    const mine = routed.filter((r) => partitions.includes(produced.get(r.value.id)!.partition));
    const late = mine.filter((r) => produced.get(r.value.id)!.at > applyReturned);
    assert.ok(late.length > 0, `replica ${name} routed records after the switch`);
    assert.deepEqual(
      late.filter((r) => r.value.route.policy_version !== NEW).map((r) => r.value.id),
      [],
      `replica ${name}: every record produced after apply --wait returned is routed by ${NEW}`,
    );
    const firstNew = Math.min(
      ...mine.filter((r) => r.value.route.policy_version === NEW).map((r) => r.value.route.routed_at),
    );
    const metrics = await fleet.metrics('priority-router');
    assert.equal(
      metricSum(metrics, 'pf_policy_info', `version="${NEW}"`),
      1,
      `replica ${name} reports ${NEW}`,
    );
    assert.equal(metricSum(metrics, 'pf_policy_info', `version="${OLD}"`), 0);
    assert.equal(metricSum(metrics, 'pf_policy_updates_total', 'result="applied"'), 1);
    const written = Date.parse(applied.applied.applied_at);
    figures.push(
      `replica ${name} (partitions ${partitions.join(',')}): first record routed by ${NEW} ${firstNew - applyStarted} ms after the apply command started, ${firstNew - written} ms after the policy record was written`,
    );
  }
  assert.equal(allPartitions.size, PARTITIONS, 'the two replicas share every partition');
  const versions = routed.map((r) => r.value.route.policy_version);
  figures.push(
    `apply --wait returned after ${applyReturned - applyStarted} ms; ${routed.length} records, ${versions.filter((v) => v === OLD).length} by ${OLD}, ${versions.filter((v) => v === NEW).length} by ${NEW}`,
  );
  for (const line of figures) t.diagnostic(line);
});
