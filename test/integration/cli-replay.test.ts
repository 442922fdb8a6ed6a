/**
 * `patternflow replay` and `patternflow skip` as processes on the real broker, on a group
 * whose stage is not running under `make run`: the plan, the reset, the refusal while the
 * group has a member, --force waiting for the member to leave, and a skip with its audit.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readTopic, runPatternflow, spawnPatternflow, stack, uniqueName } from '@patternflow/harness';
import { createKafka, ensureTopics, setOffsetsOfEmptyGroup } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { groupIdOf } from '@patternflow/service';

const namespace = uniqueName('clireplay').replace('.', '-');
const topics = topicNames(namespace);
/** The router's input: replaying the router re-reads it. */
const input = topics.tagged;
const groupId = groupIdOf('priority-router', {
  topicNamespace: namespace,
  groupIdIngestor: '',
  groupIdInferenceTagger: '',
  groupIdPriorityRouter: '',
  groupIdSink: '',
});
const runDir = mkdtempSync(join(tmpdir(), 'cli-replay-'));
const env = {
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_TOPIC_NAMESPACE: namespace,
  // No supervisor runs from here: --force can only wait for the group to empty.
  PF_RUN_DIR: runDir,
};
const kafka = createKafka({
  brokers: stack.brokers,
  clientId: 'cli-replay-test',
  logger: createLogger({ service: 'cli-replay-test', level: 'error' }),
});
const admin = kafka.admin();
const HOUR = 3_600_000;

const committed = async (group = groupId, topic = input) =>
  (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions[0]?.offset;

before(async () => {
  await admin.connect();
  await ensureTopics(kafka, [{ topic: input, partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  const now = Date.now();
  // Five records two hours ago, five half an hour ago.
  await producer.send({
    topic: input,
    acks: -1,
    messages: Array.from({ length: 10 }, (_, i) => ({
      key: `r-${i}`,
      value: `{"i":${i}}`,
      timestamp: String(i < 5 ? now - 2 * HOUR : now - HOUR / 2),
    })),
  });
  await producer.disconnect();
  // The router has read everything.
  await setOffsetsOfEmptyGroup(kafka, groupId, [
    { topic: input, partitions: [{ partition: 0, offset: '10' }] },
  ]);
});

after(async () => {
  await admin.deleteTopics({ topics: [input, topics.skipped] }).catch(() => {});
  await admin.deleteGroups([groupId, `${groupId}.skip`]).catch(() => {});
  await admin.disconnect();
  rmSync(runDir, { recursive: true, force: true });
});

const cli = (...args: string[]) => runPatternflow(args, env);

test('--dry-run shows committed → new offset and the records to replay, and changes nothing', async () => {
  const result = await cli('replay', 'priority-router', '--from', '1h', '--dry-run', '--json');
  assert.equal(result.code, 0, result.stderr);
  const plan = JSON.parse(result.stdout);
  assert.equal(plan.groupId, groupId);
  assert.equal(plan.applied, false);
  assert.equal(plan.records, 5);
  assert.deepEqual(plan.rows, [
    { topic: input, partition: 0, current: '10', target: '5', action: 'rewind', records: 5 },
  ]);
  assert.equal(await committed(), '10');
});

test('refused while the group has a member; --force waits for it to leave, then resets', async () => {
  const member = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const joined = new Promise((resolve) => member.on(member.events.GROUP_JOIN, resolve));
  await member.connect();
  await member.subscribe({ topic: input });
  await member.run({ autoCommit: false, eachMessage: async () => {} });
  await joined;
  try {
    const refused = await cli('replay', 'priority-router', '--from', '1h');
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /priority-router is running: group .* has 1 member\(s\).*--force/);

    const started = Date.now();
    const timedOut = await cli('replay', 'priority-router', '--from', '1h', '--force', '--wait', '2s');
    assert.equal(timedOut.code, 4);
    assert.match(timedOut.stderr, /still has 1 member\(s\) .* after 2 s; nothing was reset/);
    assert.ok(Date.now() - started >= 2_000);
    assert.equal(await committed(), '10');

    const waiting = spawnPatternflow(
      ['replay', 'priority-router', '--from', '1h', '--force', '--wait', '30s'],
      env,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(waiting.child.exitCode, null, 'still waiting for the member to leave');
    await member.disconnect();
    const reset = await waiting.exited;
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /moved back; 5 record\(s\) to process again/);
  } finally {
    await member.disconnect().catch(() => {});
  }
  assert.equal(await committed(), '5');
  const { groups } = await admin.describeGroups([groupId]);
  assert.equal(groups[0]?.members.length, 0, 'the member that committed has left');
});

test('a replay never moves a group forward, and an earlier time moves it further back', async () => {
  const forward = await cli('replay', 'priority-router', '--from', '10m');
  assert.equal(forward.code, 0, forward.stderr);
  assert.match(forward.stdout, /nothing to replay/);
  assert.match(forward.stdout, /kept: the group has not read up to --from yet/);
  assert.equal(await committed(), '5');

  const earlier = await cli(
    'replay',
    'priority-router',
    '--from',
    new Date(Date.now() - 3 * HOUR).toISOString(),
  );
  assert.equal(earlier.code, 0, earlier.stderr);
  assert.equal(await committed(), '0');

  assert.equal((await cli('replay', 'priority-router', '--from', 'yesterday')).code, 2);
  assert.equal((await cli('replay', 'router', '--from', '1h')).code, 2);
});

test('skip moves a group past a range once, recording who and why first', async () => {
  const group = `${groupId}.skip`;
  await setOffsetsOfEmptyGroup(kafka, group, [{ topic: input, partitions: [{ partition: 0, offset: '3' }] }]);
  const args = [
    'skip',
    '--group',
    group,
    '--topic',
    'tagged',
    '--partition',
    '0',
    '--from',
    '3',
    '--to',
    '6',
  ];
  const skipped = await cli(...args, '--reason', 'corrupt batch (test)', '--by', 'tester', '--json');
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.equal(JSON.parse(skipped.stdout).groupId, group);
  assert.equal(await committed(group), '6');
  const [audit] = await readTopic(kafka, topics.skipped, 1, { timeoutMs: 20_000 });
  assert.deepEqual(
    { ...JSON.parse(audit?.value?.toString() ?? '{}'), at: undefined },
    {
      topic: input,
      partition: 0,
      from: '3',
      to: '6',
      groupId: group,
      reason: 'corrupt batch (test)',
      by: 'tester',
      at: undefined,
    },
  );
  const twice = await cli(...args, '--reason', 'again');
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /past 3: nothing to skip/);
  assert.equal(
    (await cli('skip', '--topic', 'tagged', '--partition', '0', '--from', '3', '--to', '6', '--reason', 'x'))
      .code,
    2,
  );
});
