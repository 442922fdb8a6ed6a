/**
 * The signed model store, end to end: the inference-tagger as a real process on the real
 * Kafka and registry, given a private copy of the store (re-signed with a key made for this
 * run) in which payments-fraud-rf 1.1.0 is the newest version, so it is the one that serves.
 *
 * What happens to a version that does not verify, stated by the tests: when it is the
 * version that would serve, the tagger does not start (exit 1, one fatal log line with the
 * code, the file and the reason), tags nothing, and does not fall back to an older version;
 * when it would not serve, the tagger starts, logs it as refused, and it never labels a record.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import {
  copyModelStore,
  deleteNamespace,
  deleteValueSubjects,
  reservePorts,
  type ServiceFleet,
  stack,
  startServices,
  uniqueName,
} from '@patternflow/harness';
import { createKafka, ensureTopics } from '@patternflow/kafka';
import { keyIdOf, STORE_FILES } from '@patternflow/models';
import { createLogger } from '@patternflow/observability';
import { loadSchema, type TaggedPattern, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';

const runId = uniqueName('models');
const topics = topicNames(runId);
const logDir = join(process.cwd(), '.stack', 'logs', runId);
const logger = createLogger({ service: 'e2e-models', level: 'error' });
const kafka = createKafka({ brokers: stack.brokers, clientId: runId, logger, clientLogLevel: 'error' });
const codec = createSchemaCodec({ url: stack.registryUrl });
const NAME = 'payments-fraud-rf';
const RECORDS = 60;
const store = copyModelStore();
// 1.1.0: the same model bytes under a new version, signed; 0.9.0: older and damaged, never serves.
store.addVersion(NAME, '1.0.0', '1.1.0');
store.addVersion(NAME, '1.0.0', '0.9.0');
const damagedOld = store.flipModelByte(NAME, '0.9.0');
const servingSha256 = (
  JSON.parse(readFileSync(join(store.versionDir(NAME, '1.1.0'), STORE_FILES.manifest), 'utf8')) as {
    sha256: string;
  }
).sha256;
const fleets: ServiceFleet[] = [];

async function startTagger(label: string): Promise<{ fleet: ServiceFleet; log: string }> {
  const dir = join(logDir, label);
  const fleet = startServices({
    logDir: dir,
    basePort: await reservePorts(1),
    only: ['inference-tagger'],
    env: {
      PF_KAFKA_BROKERS: stack.brokers.join(','),
      PF_REGISTRY_URL: stack.registryUrl,
      PF_TOPIC_NAMESPACE: runId,
      PF_LOG_LEVEL: 'info',
      PF_PAUSE_WHEN_BACKLOG_ABOVE: '0',
      PF_MODELS_DIR: store.dir,
      PF_MODEL_PUBLIC_KEY: store.key.publicKeyPath,
    },
  });
  fleets.push(fleet);
  return { fleet, log: join(dir, 'inference-tagger.log') };
}

async function exitCodeOf(fleet: ServiceFleet, timeoutMs = 60_000): Promise<number | null> {
  const child = fleet.processes.get('inference-tagger')!.child;
  if (child.exitCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

interface LogLine {
  level: string;
  msg: string;
  err?: { code?: string; message?: string; details?: Record<string, unknown> };
  [key: string]: unknown;
}

function logLines(file: string): LogLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

async function taggedCount(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Both outputs: the policy's `expedite:` sends some records to the priority topic.
    const existing = await admin.listTopics();
    let count = 0;
    for (const topic of [topics.taggedPriority, topics.tagged].filter((t) => existing.includes(t))) {
      count += (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
    }
    return count;
  } finally {
    await admin.disconnect();
  }
}

before(async () => {
  // The records wait on patterns.normalized from the start: a tagger that started would tag them.
  await ensureTopics(kafka, [{ topic: topics.normalized, partitions: 3 }]);
  const encoder = await codec.encoderFor(valueSubject(topics.normalized), loadSchema('normalized'));
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
  await producer.connect();
  const messages = [...generateEvents({ seed: 4711, count: RECORDS, sources: ['payments'] })].map((ev) => {
    const record = toNormalizedPattern('payments', ev.event);
    return { key: record.id, value: encoder.encode(record) };
  });
  await producer.send({ topic: topics.normalized, acks: -1, messages });
  await producer.disconnect();
});

after(async () => {
  await Promise.all(fleets.map((fleet) => fleet.stop()));
  await deleteNamespace(kafka, runId);
  await deleteValueSubjects(stack.registryUrl, [topics.normalized, topics.tagged]);
  store.remove();
});

test('a flipped byte in the serving version: the tagger does not start (PF_MODEL_INTEGRITY, the file named)', async () => {
  const onnx = store.flipModelByte(NAME, '1.1.0');
  try {
    const { fleet, log } = await startTagger('tampered-onnx');
    assert.equal(await exitCodeOf(fleet), 1);
    const lines = logLines(log);
    const fatal = lines.find((line) => line.level === 'fatal');
    assert.ok(fatal, `a fatal line in ${log}`);
    assert.equal(fatal.err?.code, 'PF_MODEL_INTEGRITY');
    assert.equal(fatal.err?.details?.file, onnx);
    assert.match(
      fatal.err?.message ?? '',
      /does not match its signed manifest: sha256 [0-9a-f]{64}, manifest says/,
    );
    assert.ok(!lines.some((line) => line.msg === 'models loaded'), 'no model was put in service');
    assert.equal(await taggedCount(), 0, 'nothing was tagged');
  } finally {
    store.flipModelByte(NAME, '1.1.0'); // the same bit again: the original bytes
  }
});

test('a manifest signed by another key: the tagger does not start (PF_MODEL_SIGNATURE, both keys named)', async () => {
  const otherKey = generateKeyPairSync('ed25519').privateKey;
  store.sign(NAME, '1.1.0', otherKey);
  try {
    const { fleet, log } = await startTagger('foreign-signature');
    assert.equal(await exitCodeOf(fleet), 1);
    const fatal = logLines(log).find((line) => line.level === 'fatal');
    assert.equal(fatal?.err?.code, 'PF_MODEL_SIGNATURE');
    assert.equal(fatal?.err?.details?.file, join(store.versionDir(NAME, '1.1.0'), STORE_FILES.signature));
    assert.ok(
      fatal?.err?.message?.includes(
        `signed by key ${keyIdOf(otherKey)}, the trusted public key is ${keyIdOf(store.key.publicKey)}`,
      ),
      fatal?.err?.message,
    );
    assert.equal(await taggedCount(), 0, 'nothing was tagged');
  } finally {
    store.sign(NAME, '1.1.0');
  }
});

test('restored: 1.1.0 serves, every record carries its name, version and sha256; the damaged 0.9.0 is refused and never serves', async () => {
  const { fleet, log } = await startTagger('verified');
  await fleet.waitReady('inference-tagger', 60_000);
  const consumer = kafka.consumer({ groupId: `${runId}.reader`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.taggedPriority, topics.tagged], fromBeginning: true });
  const decoder = codec.decoderFor(loadSchema('tagged'));
  const tagged: TaggedPattern[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${tagged.length} of ${RECORDS} tagged records after 60 s`)),
      60_000,
    );
    consumer
      .run({
        eachMessage: async ({ message }) => {
          tagged.push((await decoder.decode(message.value!)).value as TaggedPattern);
          if (tagged.length >= RECORDS) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  assert.equal(new Set(tagged.map((r) => r.id)).size, RECORDS);
  for (const record of tagged) {
    assert.equal(record.inference.model_name, NAME);
    assert.equal(record.inference.model_version, '1.1.0');
    assert.equal(record.inference.model_sha256, servingSha256);
  }
  const lines = logLines(log);
  const refused = lines.find((line) => line.msg === 'model version refused: it does not serve');
  assert.equal(refused?.version, '0.9.0');
  assert.equal(refused?.code, 'PF_MODEL_INTEGRITY');
  assert.ok(String(refused?.reason).includes(damagedOld));
  const loaded = lines.find((line) => line.msg === 'models loaded') as {
    models?: { name: string; version: string }[];
  };
  assert.deepEqual(
    loaded?.models?.map((m) => `${m.name}@${m.version}`),
    ['auth-ato-rf@1.0.0', 'netflow-attack-rf@1.0.0', 'payments-fraud-rf@1.1.0'],
  );
});
