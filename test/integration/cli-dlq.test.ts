/**
 * `patternflow dlq list|show|redrive` as a process on the real broker, over dead letters
 * written by the stage runner's own toDeadLetterMessage: grouping and filters, one entry
 * with its bytes, and a redrive that sends the original record back once, counted, with
 * the bound, a gone topic and unknown entries refused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ErrorCode, ErrorCodes, PipelineError } from '@patternflow/errors';
import { deadLetterRecord, type InboundOverrides } from '@patternflow/fixtures';
import { readTopic, runPatternflow, stack, uniqueName } from '@patternflow/harness';
import { createKafka, DeadLetterHeaders, ensureTopics, RedriveHeaders } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';

const namespace = uniqueName('clidlq').replace('.', '-');
const topics = topicNames(namespace);
const payments = topics.ingest('payments');
const env = {
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_TOPIC_NAMESPACE: namespace,
};
const kafka = createKafka({
  brokers: stack.brokers,
  clientId: 'cli-dlq-test',
  logger: createLogger({ service: 'cli-dlq-test', level: 'error' }),
});
const admin = kafka.admin();
const producer = kafka.producer();
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** The dead letters, in DLQ partition 0 at offsets 0..4. */
function deadLetters() {
  const letter = (
    offset: number,
    record: InboundOverrides,
    code: ErrorCode = ErrorCodes.VALUE_NOT_DECODABLE,
    stage = 'ingestor',
  ) =>
    deadLetterRecord({
      dlqTopic: topics.dlq,
      stage,
      offset: String(offset),
      error: new PipelineError(code, `failed with ${code}`),
      record: { topic: payments, partition: 0, offset: String(offset), ...record },
    });
  return [
    letter(0, { key: Buffer.from('k-0'), value: '{"broken":', headers: { traceparent: TRACEPARENT } }),
    letter(1, { key: Buffer.from('k-1'), value: 'also broken' }),
    letter(
      2,
      { topic: topics.normalized, headers: { 'pf-source': 'auth' } },
      ErrorCodes.MODEL_MISSING,
      'inference-tagger',
    ),
    letter(3, { key: Buffer.from('k-3'), headers: { [RedriveHeaders.count]: '3' } }),
    letter(4, { topic: topics.ingest('retired') }),
  ];
}

before(async () => {
  await admin.connect();
  await producer.connect();
  await ensureTopics(kafka, [
    { topic: topics.dlq, partitions: 3 },
    { topic: payments, partitions: 1 },
  ]);
  await producer.send({
    topic: topics.dlq,
    acks: -1,
    messages: deadLetters().map(({ key, value, headers, timestamp }) => ({
      partition: 0,
      key,
      value,
      headers,
      timestamp,
    })),
  });
});

after(async () => {
  await admin.deleteTopics({ topics: [topics.dlq, payments, topics.dlqRedrives] }).catch(() => {});
  await producer.disconnect();
  await admin.disconnect();
});

const cli = (...args: string[]) => runPatternflow(args, env);

test('dlq list groups by reason, stage and source, and filters; nothing matching exits 1', async () => {
  const listed = await cli('dlq', 'list', '--json');
  assert.equal(listed.code, 0, listed.stderr);
  const { total, groups } = JSON.parse(listed.stdout);
  assert.equal(total, 5);
  assert.deepEqual(
    groups.map((g: { reason: string; stage: string; source: string; count: number; returned: number }) => [
      g.reason,
      g.stage,
      g.source,
      g.count,
      g.returned,
    ]),
    [
      ['PF_VALUE_NOT_DECODABLE', 'ingestor', 'payments', 3, 1],
      ['PF_MODEL_MISSING', 'inference-tagger', 'auth', 1, 0],
      ['PF_VALUE_NOT_DECODABLE', 'ingestor', 'retired', 1, 0],
    ],
  );

  const tagger = await cli('dlq', 'list', '--reason', 'model_missing');
  assert.equal(tagger.code, 0, tagger.stderr);
  assert.match(tagger.stdout, /1 dead letter\(s\) in 1 group\(s\)/);
  assert.match(tagger.stdout, /PF_MODEL_MISSING +inference-tagger +auth +1 /);

  const entries = await cli('dlq', 'list', '--source', 'payments', '--since', '2025-01-01', '--entries');
  assert.equal(entries.code, 0, entries.stderr);
  assert.match(entries.stdout, /^ID +TIME +REASON/);
  assert.equal(entries.stdout.trim().split('\n').length, 4, entries.stdout);

  const none = await cli('dlq', 'list', '--stage', 'sink');
  assert.equal(none.code, 1);
  assert.match(none.stdout, /no dead letters match/);
});

test('dlq show prints the reason, the origin, the original headers and the bytes', async () => {
  const shown = await cli('dlq', 'show', '0:0');
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /reason {5}PF_VALUE_NOT_DECODABLE/);
  assert.match(
    shown.stdout,
    new RegExp(`source {5}payments \\(${payments.replaceAll('.', '\\.')} partition 0 offset 0\\)`),
  );
  assert.match(shown.stdout, new RegExp(`original headers\n {2}traceparent: ${TRACEPARENT}\n`));
  assert.match(shown.stdout, /00000000 {2}7b 22 62 72 6f 6b 65 6e 22 3a +\|\{"broken":\|/);

  const json = await cli('dlq', 'show', `${topics.dlq}/0:2`, '--json');
  assert.equal(json.code, 0, json.stderr);
  const entry = JSON.parse(json.stdout);
  assert.equal(entry.reason, 'PF_MODEL_MISSING');
  assert.equal(entry.headers[DeadLetterHeaders.stage], 'inference-tagger');
  assert.equal(Buffer.from(entry.valueBase64, 'base64').toString(), '{"broken":');

  assert.equal((await cli('dlq', 'show', '0:99')).code, 1);
  assert.equal((await cli('dlq', 'show', 'zero')).code, 2);
});

test('dlq redrive sends the originals back once, counted and marked; the bound and a gone topic are refused', async () => {
  const dryRun = await cli('dlq', 'redrive', '--source', 'payments', '--dry-run');
  assert.equal(dryRun.code, 4, dryRun.stderr);
  assert.match(dryRun.stdout, /would send 0:0 .* redrive 1\nwould send 0:1 /);
  assert.match(dryRun.stdout, /refused 0:3: redriven 3 time\(s\) already, the limit is 3/);
  const [before] = await admin.fetchTopicOffsets(payments);
  assert.equal(before?.high, '0', 'a dry run sends nothing');

  const sent = await cli('dlq', 'redrive', '0:0', '0:1');
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /2 sent, 0 redriven before, 0 refused, 0 missing/);
  const records = await readTopic(kafka, payments, 2, { timeoutMs: 20_000 });
  const first = records.find((record) => record.key?.toString() === 'k-0');
  assert.ok(first, 'the original key');
  assert.equal(first.value?.toString(), '{"broken":');
  assert.deepEqual(first.headers, {
    traceparent: TRACEPARENT,
    [RedriveHeaders.count]: '1',
    [RedriveHeaders.from]: `${topics.dlq}/0:0`,
    [RedriveHeaders.at]: first.headers[RedriveHeaders.at],
  });
  assert.ok(!Number.isNaN(Date.parse(first.headers[RedriveHeaders.at] ?? '')));

  const again = await cli('dlq', 'redrive', '0:0', '--json');
  assert.equal(again.code, 0, again.stderr);
  const summary = JSON.parse(again.stdout);
  assert.deepEqual(summary.sent, []);
  assert.equal(summary.alreadyRedriven[0].id, '0:0');
  assert.equal(summary.alreadyRedriven[0].mark.to, payments);
  const [afterAgain] = await admin.fetchTopicOffsets(payments);
  assert.equal(afterAgain?.high, '2', 'nothing is sent twice');
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: 2, name: topics.dlqRedrives, configNames: ['cleanup.policy'] }],
  });
  assert.equal(configs.resources[0]?.configEntries[0]?.configValue, 'compact');

  const listed = JSON.parse((await cli('dlq', 'list', '--source', 'payments', '--json')).stdout);
  assert.equal(listed.groups[0].redriven, 2, 'dlq list counts the entries sent back');

  const bound = await cli('dlq', 'redrive', '0:3');
  assert.equal(bound.code, 4);
  const gone = await cli('dlq', 'redrive', '0:4');
  assert.equal(gone.code, 4);
  assert.match(gone.stdout, /refused 0:4: its topic .*ingest\.retired does not exist any more/);
  const missing = await cli('dlq', 'redrive', '2:7');
  assert.equal(missing.code, 1);
  assert.match(missing.stdout, /missing 2:7/);
  const unspecified = await cli('dlq', 'redrive');
  assert.equal(unspecified.code, 2);
  assert.match(unspecified.stderr, /say which dead letters/);
});
