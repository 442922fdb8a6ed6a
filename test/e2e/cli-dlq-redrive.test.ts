/**
 * The DLQ round trip with the real ingestor as a process and the real `patternflow` bin:
 * a record dead-letters for a cause (a value-size limit), the cause is fixed (the ingestor
 * restarted with the limit raised), `dlq redrive` sends it back and it lands on the
 * normalized topic; a record that can never pass goes round DLQ → redrive → DLQ until the
 * redrive bound refuses it, and `dlq list` shows the loop.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateEvents } from '@patternflow/generators';
import {
  deleteNamespace,
  reservePorts,
  runPatternflow,
  type ServiceFleet,
  stack,
  startServices,
  uniqueName,
} from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { getSourceAdapter } from '@patternflow/sources';

const namespace = uniqueName('clidlqe2e').replace('.', '-');
const topics = topicNames(namespace);
const logDir = mkdtempSync(join(tmpdir(), 'cli-dlq-e2e-'));
const serviceEnv = {
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_TOPIC_NAMESPACE: namespace,
  // No tagger runs: nothing downstream to wait for.
  PF_PAUSE_WHEN_BACKLOG_ABOVE: '0',
  PF_LOG_LEVEL: 'warn',
};
const cliEnv = {
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_TOPIC_NAMESPACE: namespace,
};
const kafka = createKafka({
  brokers: stack.brokers,
  clientId: 'cli-dlq-e2e',
  logger: createLogger({ service: 'cli-dlq-e2e', level: 'error' }),
});
const fleets: ServiceFleet[] = [];

async function startIngestor(env: Record<string, string>): Promise<ServiceFleet> {
  const fleet = startServices({
    env: { ...serviceEnv, ...env },
    logDir,
    basePort: await reservePorts(1),
    only: ['ingestor'],
  });
  fleets.push(fleet);
  return fleet;
}

after(async () => {
  for (const fleet of fleets) await fleet.stop();
  await deleteNamespace(kafka, namespace, { consumerGroups: true });
  rmSync(logDir, { recursive: true, force: true });
});

const cli = (...args: string[]) => runPatternflow(args, cliEnv);

/** `dlq list --json` once the selection has `count` entries (the ingestor writes them). */
async function deadLettersWhen(count: number, ...filters: string[]) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const result = await cli('dlq', 'list', '--json', '--entries', ...filters);
    const listed = result.code === 0 ? JSON.parse(result.stdout) : { total: 0 };
    if (listed.total >= count) return listed;
    if (Date.now() > deadline) throw new Error(`${listed.total} of ${count} dead letters: ${result.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test('a dead letter whose cause is fixed is redriven and lands; one that keeps failing stops at the bound', async () => {
  const [payment] = [...generateEvents({ seed: 11, count: 1, sources: ['payments'] })];
  assert.ok(payment);
  const id = getSourceAdapter('payments')!.normalize(payment.event).id;
  const json = JSON.stringify(payment.event);
  assert.ok(json.length > 300, `the event (${json.length} bytes) must be over the limit below`);

  const strict = await startIngestor({ PF_MAX_VALUE_BYTES: '300' });
  await strict.waitReady();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: topics.ingest('payments'),
    acks: -1,
    messages: [
      { key: id, value: json },
      { key: 'never-json', value: 'this is not JSON and never will be' },
    ],
  });
  await producer.disconnect();
  const first = await deadLettersWhen(2);
  assert.deepEqual(first.groups.map((g: { reason: string }) => g.reason).sort(), [
    'PF_VALUE_NOT_DECODABLE',
    'PF_VALUE_OVERSIZED',
  ]);

  // The cause is fixed: the ingestor runs again with the default limit.
  await strict.stop();
  const fixed = await startIngestor({});
  await fixed.waitReady();
  const redrive = await cli('dlq', 'redrive', '--reason', 'value_oversized');
  assert.equal(redrive.code, 0, `${redrive.stdout}\n${redrive.stderr}`);
  assert.match(redrive.stdout, /1 sent/);
  const landed = await runPatternflow(
    ['tail', 'normalized', '--from-beginning', '--key', id, '--count', '1', '--timeout', '30s', '--json'],
    cliEnv,
  );
  assert.equal(landed.code, 0, landed.stderr);
  const record = JSON.parse(landed.stdout);
  assert.equal(record.format, 'avro');
  assert.equal(record.value.id, id);
  assert.equal(record.value.source, 'payments');
  assert.equal(record.value.payload_format, 'JSON');

  // A record that can never pass: each redrive comes back as a new dead letter, counted.
  for (let round = 1; round <= 3; round++) {
    const sent = await cli('dlq', 'redrive', '--reason', 'value_not_decodable');
    assert.equal(sent.code, 0, `round ${round}: ${sent.stdout}\n${sent.stderr}`);
    assert.match(sent.stdout, new RegExp(`, redrive ${round}\n`));
    await deadLettersWhen(round + 1, '--reason', 'value_not_decodable');
  }
  const bounded = await cli('dlq', 'redrive', '--reason', 'value_not_decodable');
  assert.equal(bounded.code, 4, bounded.stdout);
  assert.match(bounded.stdout, /refused \d+:\d+: redriven 3 time\(s\) already, the limit is 3/);
  assert.match(bounded.stdout, /0 sent, 3 redriven before, 1 refused/);

  const loop = await deadLettersWhen(4, '--reason', 'value_not_decodable');
  assert.equal(loop.total, 4, 'the bound stopped the loop: no fifth dead letter');
  assert.deepEqual(
    loop.groups.map((g: { count: number; redriven: number; returned: number; maxRedriveCount: number }) => [
      g.count,
      g.redriven,
      g.returned,
      g.maxRedriveCount,
    ]),
    [[4, 3, 3, 3]],
  );
  const last = loop.entries.at(-1);
  assert.equal(last.redriveCount, 3);
  const shown = await cli('dlq', 'show', last.id);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    new RegExp(`redrives {3}3 \\(last redriven from ${topics.dlq.replaceAll('.', '\\.')}/\\d+:\\d+\\)`),
  );
  assert.match(shown.stdout, /original headers\n(.*\n)*? {2}pf-redrive-count: 3\n/);
});
