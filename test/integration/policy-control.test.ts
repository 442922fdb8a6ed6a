/**
 * The policy control plane against the real broker: reading a compacted, transactionally
 * written topic to its end; a tail read; and a router replica's live policy (seed, swap,
 * refusals, acknowledgements, clean stop) as services/priority-router builds it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ackMessage,
  controlTopicSpecs,
  decodeControlRecord,
  type PolicyRecord,
  policyChange,
  readAuditTrail,
  readControlState,
  sha256Of,
} from '@patternflow/control';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { deleteNamespace, stack, uniqueName } from '@patternflow/harness';
import { createKafka, ensureTopics, openTransactionalWriter, readTopicToEnd } from '@patternflow/kafka';
import { createLogger, createStageMetrics, Registry } from '@patternflow/observability';
import { parsePolicy } from '@patternflow/policy';
import { type TopicNames, topicNames } from '@patternflow/records';
import { type LivePolicy, startLivePolicy } from '../../services/priority-router/src/live-policy.ts';
import { createPolicyMetrics } from '../../services/priority-router/src/metrics.ts';
import { sink } from '../../services/sink/src/service.ts';

const logger = createLogger({ service: 'policy-control-test', level: 'error' });
const kafka = createKafka({ brokers: stack.brokers, clientId: 'policy-control-test', logger });
const seedFile = fileURLToPath(new URL('../../policies/routing.yaml', import.meta.url));
const seedYaml = readFileSync(seedFile, 'utf8');
const namespaces: string[] = [];

function newNamespace(prefix: string): TopicNames {
  const namespace = uniqueName(prefix).replace('.', '-');
  namespaces.push(namespace);
  return topicNames(namespace);
}

after(async () => {
  await deleteNamespace(kafka, namespaces);
});

/** The repository policy under another version, with `edit` applied to its text. */
const variant = (version: string, edit: (yaml: string) => string = (y) => y) =>
  edit(seedYaml.replace(/^version: ".*"$/m, `version: "${version}"`));

async function writeRecords(topics: TopicNames, yaml: string, who = 'test', previous?: PolicyRecord) {
  const writer = openTransactionalWriter({ kafka, transactionalId: uniqueName('test-writer') });
  try {
    const policy = parsePolicy(yaml, 'variant');
    const change = policyChange({
      topics,
      yaml,
      policy,
      who,
      reason: 'test',
      previous,
      action: 'policy.apply',
    });
    await writer.write(change.messages);
    return change.record;
  } finally {
    await writer.close();
  }
}

/** A policy record written as-is: the CLI never writes such a record, a buggy or hostile writer could. */
async function writeRawPolicyRecord(topics: TopicNames, yaml: string, version: string) {
  const writer = openTransactionalWriter({ kafka, transactionalId: uniqueName('raw-writer') });
  const record: PolicyRecord = {
    kind: 'policy',
    version,
    sha256: sha256Of(yaml),
    yaml,
    applied_at: new Date().toISOString(),
    applied_by: 'raw',
    reason: 'raw',
    previous_version: null,
  };
  try {
    await writer.write([{ topic: topics.controlPolicy, key: 'policy', value: JSON.stringify(record) }]);
  } finally {
    await writer.close();
  }
}

async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const metricValue = async (registry: Registry, name: string, labels: Record<string, string>) => {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const sample = (metric?.values ?? []).find((v) =>
    Object.entries(labels).every(([k, value]) => v.labels[k] === value),
  );
  return sample?.value;
};

describe('reading the control topic', () => {
  test('a topic that does not exist reads as empty', async () => {
    const topics = newNamespace('ctl-missing');
    assert.deepEqual(
      await readTopicToEnd({ kafka, topic: topics.controlPolicy, groupId: uniqueName('r'), logger }),
      [],
    );
    const state = await readControlState({ kafka, topics, groupId: uniqueName('r'), logger });
    assert.equal(state.policy, undefined);
  });

  test('transactional writes on a compacted topic are read to the end, past the commit markers', async () => {
    const topics = newNamespace('ctl-read');
    await ensureTopics(kafka, controlTopicSpecs(topics));
    const first = await writeRecords(topics, variant('c-1'));
    const second = await writeRecords(topics, variant('c-2'), 'bob', first);
    const writer = openTransactionalWriter({ kafka, transactionalId: uniqueName('ack-writer') });
    await writer.write([
      ackMessage(topics, {
        kind: 'ack',
        replica: 'r1',
        status: 'in-force',
        version: 'c-2',
        sha256: second.sha256,
        at: 'now',
      }),
    ]);
    await writer.close();
    // The last offset of the partition is a transaction marker: reading must still end.
    const state = await readControlState({
      kafka,
      topics,
      groupId: uniqueName('r'),
      logger,
      timeoutMs: 10_000,
    });
    assert.equal(state.policy?.version, 'c-2');
    assert.equal(state.policy?.previous_version, 'c-1');
    assert.equal(state.acks.get('r1')?.version, 'c-2');
    const audit = await readAuditTrail({ kafka, topics, groupId: uniqueName('r'), logger });
    assert.deepEqual(
      audit.map((e) => [e.action, e.subject, e.from, e.to, e.who]),
      [
        ['policy.apply', 'routing-policy', null, 'c-1', 'test'],
        ['policy.apply', 'routing-policy', 'c-1', 'c-2', 'bob'],
      ],
    );
    const admin = kafka.admin();
    await admin.connect();
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: topics.controlPolicy, configNames: ['cleanup.policy'] }],
    });
    await admin.disconnect();
    assert.equal(configs.resources[0]?.configEntries[0]?.configValue, 'compact');
  });

  test('a tail read returns the last records of each partition', async () => {
    const topics = newNamespace('ctl-tail');
    await ensureTopics(kafka, [{ topic: topics.tagged, partitions: 3 }]);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: topics.tagged,
      acks: -1,
      messages: Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, key: `k${i}`, value: `v${i}` })),
    });
    await producer.disconnect();
    const records = await readTopicToEnd({
      kafka,
      topic: topics.tagged,
      groupId: uniqueName('tail'),
      logger,
      lastPerPartition: 4,
    });
    assert.deepEqual(
      records.map((r) => Number(r.value?.toString().slice(1))).sort((a, b) => a - b),
      [18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29],
    );
  });
});

describe('a router replica follows the policy in force', () => {
  const topics = newNamespace('ctl-live');
  const groupId = `${topics.tagged}.router`;
  const replicas: { live: LivePolicy; registry: Registry }[] = [];
  const start = async (replica: string) => {
    const registry = new Registry();
    const live = await startLivePolicy({
      kafka,
      topics,
      groupId,
      seedFile,
      logger,
      metrics: createPolicyMetrics(registry),
      replica,
    });
    replicas.push({ live, registry });
    return { live, registry };
  };
  const ackOf = async (replica: string) =>
    (await readControlState({ kafka, topics, groupId: uniqueName('r'), logger })).acks.get(replica);
  const seedVersion = parsePolicy(seedYaml, 'seed').version;

  after(async () => {
    for (const { live } of replicas) await live.stop().catch(() => {});
  });

  test('an empty control topic is seeded from PF_POLICY_FILE once; a later replica reads it', async () => {
    const a = await start('replica-a');
    assert.equal(a.live.current().version, seedVersion);
    const b = await start('replica-b');
    assert.equal(b.live.current().version, seedVersion);
    const audit = await readAuditTrail({ kafka, topics, groupId: uniqueName('r'), logger });
    assert.deepEqual(
      audit.map((e) => [e.action, e.to]),
      [['policy.seed', seedVersion]],
      'seeded once, by the first replica',
    );
    assert.match(audit[0]!.who, /^priority-router@/);
    assert.equal(await metricValue(a.registry, 'pf_policy_info', { version: seedVersion }), 1);
    await eventually('both replicas acknowledge the seed', async () => {
      const [ackA, ackB] = [await ackOf('replica-a'), await ackOf('replica-b')];
      return ackA?.status === 'in-force' && ackB?.status === 'in-force' && ackB.sha256 === sha256Of(seedYaml);
    });
  });

  test('a new version is taken up by every replica without a restart, counted and acknowledged', async () => {
    const record = await writeRecords(topics, variant('live-2'));
    await eventually('both replicas route by live-2', () =>
      replicas.every(({ live }) => live.current().version === 'live-2'),
    );
    for (const { registry } of replicas) {
      assert.equal(
        await metricValue(registry, 'pf_policy_info', { version: 'live-2', sha256: record.sha256 }),
        1,
      );
      assert.equal(await metricValue(registry, 'pf_policy_info', { version: seedVersion }), undefined);
      assert.equal(await metricValue(registry, 'pf_policy_updates_total', { result: 'applied' }), 1);
    }
    await eventually('acknowledged', async () => (await ackOf('replica-b'))?.version === 'live-2');
  });

  test('a record a replica must refuse leaves it on its policy, counted, with the reason acknowledged', async () => {
    const refusals: [string, string, RegExp][] = [
      // same version, other content
      [
        variant('live-2', (y) => y.replace('score: { lt: 0.7 }', 'score: { lt: 0.65 }')),
        'live-2',
        /version live-2 is the version in force/,
      ],
      // another lane layout
      [
        variant('live-3', (y) => y.replace('  bulk: [postgres, cold]', '  bulk: [postgres]')),
        'live-3',
        /lane layout changed \(lane bulk lands in postgres instead of postgres, cold\)/,
      ],
      // does not validate (a rule sends EU records to bulk)
      [
        variant('live-4', (y) =>
          y.replace(/ {2}- name: eu-residency[\s\S]*?region: \[eu-west, eu-central\]\n/, ''),
        ),
        'live-4',
        /records of region "eu-west" can reach it/,
      ],
    ];
    let rejected = 0;
    for (const [yaml, version, why] of refusals) {
      await writeRawPolicyRecord(topics, yaml, version);
      rejected++;
      await eventually(`refusal of ${version} counted`, async () =>
        (
          await Promise.all(
            replicas.map(({ registry }) =>
              metricValue(registry, 'pf_policy_updates_total', { result: 'rejected' }),
            ),
          )
        ).every((n) => n === rejected),
      );
      const ack = await ackOf('replica-a');
      assert.equal(ack?.status, 'rejected');
      assert.equal(ack?.version, version);
      assert.match(ack?.detail ?? '', /^kept live-2: /);
      assert.match(ack?.detail ?? '', why);
      for (const { live } of replicas) assert.equal(live.current().version, 'live-2');
    }
    // A valid version after the refusals is taken up again.
    await writeRecords(topics, variant('live-5'));
    await eventually('live-5 taken up', () =>
      replicas.every(({ live }) => live.current().version === 'live-5'),
    );
  });

  test('stop() removes the acknowledgement and the follower group', async () => {
    const c = await start('replica-c');
    assert.equal(
      c.live.current().version,
      'live-5',
      'a replica started now reads the latest record, not the file',
    );
    await eventually('c acknowledged', async () => (await ackOf('replica-c'))?.status === 'in-force');
    await c.live.stop();
    assert.equal(await ackOf('replica-c'), undefined);
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.listGroups();
    await admin.disconnect();
    assert.ok(!groups.some((g) => g.groupId === `${groupId}.policy.replica-c`));
  });

  test("a starting replica removes the acknowledgements of replicas that no longer run, not the others'", async () => {
    const writer = openTransactionalWriter({ kafka, transactionalId: uniqueName('ghost-writer') });
    await writer.write([
      ackMessage(topics, {
        kind: 'ack',
        replica: 'ghost',
        status: 'in-force',
        version: 'live-5',
        sha256: 'x',
        at: 'then',
      }),
    ]);
    await writer.close();
    assert.equal((await ackOf('ghost'))?.replica, 'ghost');
    await start('replica-d');
    await eventually(
      'the ghost acknowledgement is removed',
      async () => (await ackOf('ghost')) === undefined,
    );
    for (const running of ['replica-a', 'replica-b', 'replica-d']) {
      assert.equal((await ackOf(running))?.status, 'in-force', `${running} keeps its acknowledgement`);
    }
  });

  test('a policy in force that does not validate stops a replica from starting (PF_POLICY_INVALID)', async () => {
    const broken = newNamespace('ctl-broken');
    await ensureTopics(kafka, controlTopicSpecs(broken));
    await writeRawPolicyRecord(broken, 'version: "x"\nlanes: [standard]\nrules: []\n', 'x');
    await assert.rejects(
      startLivePolicy({
        kafka,
        topics: broken,
        groupId: `${broken.tagged}.router`,
        seedFile,
        logger,
        metrics: createPolicyMetrics(new Registry()),
      }),
      (error: unknown) =>
        error instanceof PipelineError &&
        error.code === ErrorCodes.POLICY_INVALID &&
        /rules: must be a non-empty list/.test(error.message),
    );
    // And the record a hostile writer can produce is only ignored by readers.
    const decoded = decodeControlRecord({
      key: Buffer.from('policy'),
      value: Buffer.from('{"kind":"policy"}'),
    });
    assert.equal(decoded.type, 'invalid');
  });
});

describe('the sink takes its lanes from the policy in force', () => {
  const buildSink = (topics: TopicNames, env: Record<string, string> = {}) =>
    sink.build(
      sink.loadConfig({
        PF_KAFKA_BROKERS: stack.brokers.join(','),
        PF_TOPIC_NAMESPACE: topics.tagged.slice(0, -'.patterns.tagged'.length),
        PF_POLICY_FILE: seedFile,
        ...env,
      }),
      { logger, metrics: createStageMetrics('sink'), kafka },
    );
  const refusal = (pattern: RegExp) => (error: unknown) =>
    error instanceof PipelineError && error.code === ErrorCodes.CONFIG_INVALID && pattern.test(error.message);

  test("PF_COLD_LANES must say what the policy's sinks mapping says", async () => {
    const topics = newNamespace('sink-cold');
    await assert.rejects(
      buildSink(topics, { PF_COLD_LANES: 'bulk,standard' }),
      refusal(
        /PF_COLD_LANES is bulk,standard, but the routing policy .*routing\.yaml sends bulk to cold files .*set PF_COLD_LANES=bulk/,
      ),
    );
  });

  test('the policy in force on the control topic wins over PF_POLICY_FILE', async () => {
    const topics = newNamespace('sink-inforce');
    await ensureTopics(kafka, controlTopicSpecs(topics));
    // In force: no lane lands in cold files. The file (and PF_COLD_LANES' default) say bulk does.
    await writeRecords(
      topics,
      variant('sink-1', (y) => y.replace('  bulk: [postgres, cold]', '  bulk: [postgres]')),
    );
    await assert.rejects(
      buildSink(topics),
      refusal(/the routing policy in force \(version sink-1, control topic .*\) sends no lane to cold files/),
    );
  });
});
