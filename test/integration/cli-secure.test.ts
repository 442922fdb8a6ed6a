/**
 * `patternflow` over the stack's secure links only (Kafka SASL_SSL with SCRAM-SHA-512, the
 * registry over https with basic auth): it reads what the services read through the same
 * variables, decodes Confluent Avro through the TLS registry, and with a wrong password or
 * an untrusted CA it stops within seconds with a message that names the cause and never
 * the secret.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runPatternflow, secureStack, stack, uniqueName } from '@patternflow/harness';
import { createKafka, ensureTopics } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';

const secure = secureStack();
const dir = mkdtempSync(join(tmpdir(), 'cli-secure-'));
const topic = uniqueName('cli-secure');
const PLANTED = `planted-${Math.random().toString(36).slice(2)}-password`;
/** A start, one connection refused, one line: far below kafkajs's own retry budget (~40 s). */
const FAST_EXIT_MS = 15_000;

/**
 * Only the secure settings: every link variable of this process's (plaintext) environment
 * is blanked, so that nothing can silently fall back to the plaintext listener.
 */
function secureEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const blanked = Object.fromEntries(
    Object.keys(process.env)
      .filter((name) => /^PF_(KAFKA|REGISTRY|PG)_/.test(name))
      .map((name) => [name, '']),
  );
  return { ...blanked, ...secure.env, ...overrides };
}

const kafka = createKafka({
  brokers: stack.brokers,
  clientId: 'cli-secure-test',
  logger: createLogger({ service: 'cli-secure-test', level: 'error' }),
});
const producer = kafka.producer();
const schema = {
  type: 'record',
  name: 'SecureProbe',
  namespace: 'dev.patternflow.test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
  ],
};

before(async () => {
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  // Written through the plaintext side of the same broker and registry (one storage: the ids
  // are the same on both registry endpoints), read back through the secure side only.
  const encoder = await createSchemaCodec({ url: stack.registryUrl }).encoderFor(valueSubject(topic), schema);
  await producer.connect();
  await producer.send({
    topic,
    messages: [{ key: 'secure-1', value: encoder.encode({ id: 'secure-1', amount: 42.5 }) }],
  });
});

after(async () => {
  await producer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test('tail over SASL_SSL decodes Avro through the https registry with basic auth', async () => {
  assert.match(secure.env.PF_KAFKA_BROKERS ?? '', /:19096$|:\d+$/);
  const result = await runPatternflow(
    ['tail', topic, '--from-beginning', '--count', '1', '--json', '--timeout', '30s'],
    secureEnv(),
  );
  assert.equal(result.code, 0, result.stderr);
  const line = JSON.parse(result.stdout.trim()) as { key: string; format: string; value: unknown };
  assert.equal(line.key, 'secure-1');
  assert.match(line.format, /avro/);
  assert.deepEqual(line.value, { id: 'secure-1', amount: 42.5 });
});

test('a wrong Kafka password stops the CLI within seconds, naming the cause, never the password', async () => {
  const wrong = join(dir, 'wrong.password');
  writeFileSync(wrong, PLANTED, { mode: 0o600 });
  const started = Date.now();
  const result = await runPatternflow(
    ['tail', topic, '--from-beginning', '--count', '1', '--log-level', 'debug'],
    secureEnv({ PF_KAFKA_SASL_PASSWORD_FILE: wrong }),
  );
  const elapsed = Date.now() - started;
  assert.notEqual(result.code, 0);
  assert.ok(elapsed < FAST_EXIT_MS, `exited after ${elapsed} ms`);
  assert.match(result.stderr, /PF_KAFKA_AUTH|authenticat/i);
  assert.ok(!`${result.stdout}${result.stderr}`.includes(PLANTED), 'the password reached the output');
});

test('a CA that did not sign the broker certificate stops the CLI within seconds, naming TLS', async () => {
  // A CA of its own, which signed nothing the stack serves.
  const foreign = join(dir, 'foreign-ca.pem');
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(dir, 'foreign-ca.key'),
    '-out',
    foreign,
    '-days',
    '1',
    '-subj',
    '/CN=foreign test CA',
  ]);
  const started = Date.now();
  const result = await runPatternflow(
    ['tail', topic, '--from-beginning', '--count', '1'],
    secureEnv({ PF_KAFKA_SSL_CA_FILE: foreign }),
  );
  const elapsed = Date.now() - started;
  assert.notEqual(result.code, 0);
  assert.ok(elapsed < FAST_EXIT_MS, `exited after ${elapsed} ms`);
  assert.match(result.stderr, /PF_KAFKA_TLS|certificate/i);
});
