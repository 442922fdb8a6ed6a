/**
 * `patternflow tail` as a process on the real broker and registry: JSON, Confluent Avro
 * (decoded through the registry), hostile text and bytes; filters; follow until Ctrl-C;
 * exit codes; and no consumer group left behind.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runPatternflow, spawnPatternflow, stack, uniqueName } from '@patternflow/harness';
import { createKafka, ensureTopics } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';

const namespace = uniqueName('clitail').replace('.', '-');
const topics = topicNames(namespace);
const topic = topics.ingest('payments');
const env = {
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_TOPIC_NAMESPACE: namespace,
};
const kafka = createKafka({
  brokers: stack.brokers,
  clientId: 'cli-tail-test',
  logger: createLogger({ service: 'cli-tail-test', level: 'error' }),
});
const admin = kafka.admin();
const producer = kafka.producer();
const probeSchema = {
  type: 'record',
  name: 'TailProbe',
  namespace: 'dev.patternflow.test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
  ],
};
/** What a terminal would act on; none of it may reach stdout raw. */
const RAW_CONTROLS = ['\u001b', '\u009b', '\u0007', '\u202e'];

before(async () => {
  await admin.connect();
  await producer.connect();
  // One partition: the order of the records is the order they were sent.
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  const encoder = await createSchemaCodec({ url: stack.registryUrl }).encoderFor(
    valueSubject(topic),
    probeSchema,
  );
  await producer.send({
    topic,
    acks: -1,
    messages: [
      {
        key: 'j-1',
        value: JSON.stringify({ id: 'j-1', tier: 'free', nested: { x: 1 } }),
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      },
      { key: 'a-1', value: encoder.encode({ id: 'a-1', amount: 12.5 }) },
      { key: 'k\u001b]0;owned\u0007', value: 'evil \u001b[2J\u009b31m \u202e', headers: { h: 'x\u001b[1m' } },
      { key: null, value: Buffer.from([0xff, 0x00, 0x1b, 0x9b]) },
    ],
  });
});

after(async () => {
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await producer.disconnect();
  await admin.disconnect();
});

test('--json prints one object per record: JSON, Avro through the registry, text and bytes, headers, keys', async () => {
  const result = await runPatternflow(['tail', topic, '--from-beginning', '--count', '4', '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  const records = result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    records.map((r) => [r.offset, r.format, r.key]),
    [
      ['0', 'json', 'j-1'],
      ['1', 'avro', 'a-1'],
      ['2', 'text', 'k\u001b]0;owned\u0007'],
      ['3', 'binary', null],
    ],
  );
  assert.deepEqual(records[0].value, { id: 'j-1', tier: 'free', nested: { x: 1 } });
  assert.equal(records[0].headers.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  assert.deepEqual(records[1].value, { id: 'a-1', amount: 12.5 });
  assert.equal(typeof records[1].schemaId, 'number');
  assert.equal(records[2].value, 'evil \u001b[2J\u009b31m \u202e');
  assert.equal(records[3].valueBase64, Buffer.from([0xff, 0x00, 0x1b, 0x9b]).toString('base64'));
  assert.equal(records[0].topic, topic);
  assert.ok(!Number.isNaN(Date.parse(records[0].timestamp)));
  for (const control of RAW_CONTROLS)
    assert.ok(!result.stdout.includes(control), `raw ${JSON.stringify(control)}`);
});

test('text output: a namespace shorthand, --key and --where (ANDed), hostile bytes escaped', async () => {
  const json = await runPatternflow(
    [
      'tail',
      'ingest.payments',
      '--from-beginning',
      '--key',
      'j-1',
      '--where',
      'nested.x=1',
      '--where',
      'tier=free',
      '--count',
      '1',
    ],
    env,
  );
  assert.equal(json.code, 0, json.stderr);
  assert.match(
    json.stdout,
    new RegExp(`^${topic.replaceAll('.', '\\.')} 0:0 .* key j-1 {2}json, \\d+ bytes\n`),
  );
  assert.match(json.stdout, /headers {2}traceparent=00-4bf92f/);
  assert.match(json.stdout, /"nested":\{"x":1\}/);

  const all = await runPatternflow(['tail', 'ingest.payments', '--from-beginning', '--count', '4'], env);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /key k\\u001b\]0;owned\\u0007/);
  assert.match(all.stdout, /headers {2}h=x\\u001b\[1m/);
  assert.match(all.stdout, /"evil \\u001b\[2J\\u009b31m \\u202e"/);
  assert.match(all.stdout, /avro \(schema \d+\), \d+ bytes\n {2}\{"id":"a-1","amount":12\.5\}/);
  assert.match(all.stdout, /binary, 4 bytes\n {2}hex ff001b9b {2}\|\.\.\.\.\|/);
  for (const control of RAW_CONTROLS)
    assert.ok(!all.stdout.includes(control), `raw ${JSON.stringify(control)}`);
});

test('without --count it follows new records until Ctrl-C, and exits 0', async () => {
  const tail = spawnPatternflow(['tail', 'ingest.payments', '--where', 'id=live', '--json'], env);
  // The tail starts at the end once its group has joined; send until it shows one.
  const sending = setInterval(() => {
    producer.send({ topic, messages: [{ key: 'live', value: '{"id":"live"}' }] }).catch(() => {});
  }, 300);
  try {
    await tail.waitForStdout(/"key":"live"/, 30_000);
  } finally {
    clearInterval(sending);
  }
  tail.child.kill('SIGINT');
  const result = await tail.exited;
  assert.equal(result.code, 0, result.stderr);
  assert.ok(
    result.stdout
      .trim()
      .split('\n')
      .every((line) => JSON.parse(line).value.id === 'live'),
  );
});

test('exit codes: 1 when --timeout passes before --count, 1 for a missing topic, 2 for a bad filter', async () => {
  const none = await runPatternflow(
    ['tail', topic, '--from-beginning', '--where', 'id=nobody', '--count', '1', '--timeout', '2s'],
    env,
  );
  assert.equal(none.code, 1, none.stderr);
  assert.match(none.stderr, /0 matching record\(s\)/);
  const missing = await runPatternflow(['tail', 'ingest.nosuchsource', '--count', '1'], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /topic .*ingest\.nosuchsource does not exist/);
  const bad = await runPatternflow(['tail', topic, '--where', 'no-equals-sign'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--where takes path=value/);
});

test('no tail leaves a consumer group behind', async () => {
  const { groups } = await admin.listGroups();
  assert.deepEqual(
    groups.map((group) => group.groupId).filter((id) => id.startsWith('patternflow-cli.tail.')),
    [],
  );
});
