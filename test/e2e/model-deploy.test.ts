/**
 * Model deployments changed live: two inference-tagger replicas (processes) on the real
 * Kafka and registry under steady traffic of payments records on patterns.normalized, and
 * `patternflow model shadow | canary | promote | rollback --wait` one after the other, then a
 * deployment that no replica can verify. The store is a private copy (signed with a key made
 * for this run) holding payments-fraud-rf 1.0.0 and a 1.1.0 that is a different model file
 * (one unknown protobuf field appended, so another sha256; the same trees) with another fraud
 * threshold (0.08 instead of 0.37), so its labels differ where p(fraud) is in [0.08, 0.37).
 *
 * Asserted: every produced id is tagged exactly once; each record's label is the one its
 * recorded version's threshold gives for its scores, and its sha256 is that version's; in
 * each phase's window every record is labelled as the deployment says (shadow: 1.0.0 with
 * 1.1.0's label beside it; canary: exactly the ids whose hash falls below the share, within
 * 4 sigma of it; promote: 1.1.0; rollback: 1.0.0); the shadow metrics of both replicas add up
 * to the records' shadow fields per class pair; rollback reaches every replica within 10 s;
 * a deployment of a damaged version is refused by both replicas, which keep labelling.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { deploymentChange, readModelControlState } from '@patternflow/control';
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import {
  copyModelStore,
  deleteNamespace,
  deleteValueSubjects,
  metricSum,
  reservePorts,
  runPatternflow,
  type ServiceFleet,
  stack,
  startServices,
  uniqueName,
} from '@patternflow/harness';
import { createKafka, ensureTopics, openTransactionalWriter, readTopicToEnd } from '@patternflow/kafka';
import { STORE_FILES } from '@patternflow/models';
import { createLogger } from '@patternflow/observability';
import { loadSchema, type TaggedPattern, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';

const runId = uniqueName('deploy');
const topics = topicNames(runId);
const logDir = join(process.cwd(), '.stack', 'logs', runId);
const logger = createLogger({ service: 'e2e-deploy', level: 'error' });
const kafka = createKafka({ brokers: stack.brokers, clientId: runId, logger, clientLogLevel: 'error' });
const codec = createSchemaCodec({ url: stack.registryUrl });
const NAME = 'payments-fraud-rf';
const PARTITIONS = 4;
/** 160 records/s. */
const TICK_MS = 25;
const PER_TICK = 4;
/** How long each deployment is watched before the next command. */
const PHASE_MS = 3_000;
/** A record inferred this long after a command's --wait returned is surely labelled by its deployment. */
const SETTLE_MS = 1_000;
const CANARY_SHARE = 0.3;
const THRESHOLDS: Record<string, number> = { '1.0.0': 0.37, '1.1.0': 0.08 };

const store = copyModelStore({ names: [NAME] });
store.addVersion(NAME, '1.0.0', '1.1.0');
store.addVersion(NAME, '1.0.0', '1.2.0');
/** Appends field 1000 (length-delimited) to a ModelProto: protobuf readers skip unknown fields. */
function appendUnknownField(version: string, note: string) {
  const file = join(store.versionDir(NAME, version), STORE_FILES.model);
  const payload = Buffer.from(note);
  appendFileSync(file, Buffer.concat([Buffer.from([0xc2, 0x3e, payload.length]), payload]));
  const bytes = readFileSync(file);
  store.editManifest(NAME, version, (m) => {
    m.sha256 = createHash('sha256').update(bytes).digest('hex');
    m.size_bytes = statSync(file).size;
    m.thresholds = { fraud: THRESHOLDS['1.1.0'] };
  });
}
appendUnknownField('1.1.0', 'e2e 1.1.0');
appendUnknownField('1.2.0', 'e2e 1.2.0');
const manifestOf = (version: string) =>
  JSON.parse(readFileSync(join(store.versionDir(NAME, version), STORE_FILES.manifest), 'utf8')) as {
    sha256: string;
  };
const SHA = { '1.0.0': manifestOf('1.0.0').sha256, '1.1.0': manifestOf('1.1.0').sha256 } as Record<
  string,
  string
>;
// 1.2.0 verifies now; the test damages its bytes before deploying it, so every replica refuses it.
const damagedSha = manifestOf('1.2.0').sha256;

const fleets: { name: string; fleet: ServiceFleet; log: string }[] = [];

const env = {
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_TOPIC_NAMESPACE: runId,
  PF_MODELS_DIR: store.dir,
  PF_MODEL_PUBLIC_KEY: store.key.publicKeyPath,
};

before(async () => {
  await ensureTopics(kafka, [{ topic: topics.normalized, partitions: PARTITIONS }]);
  for (const name of ['a', 'b']) {
    const dir = join(logDir, name);
    const fleet = startServices({
      logDir: dir,
      basePort: await reservePorts(1),
      only: ['inference-tagger'],
      env: {
        ...env,
        PF_LOG_LEVEL: 'info',
        PF_PAUSE_WHEN_BACKLOG_ABOVE: '0',
        // 1.0.0 serves first: the store's highest (1.2.0) would otherwise be the seed.
        PF_MODEL_VERSIONS: `${NAME}@1.0.0`,
        PF_MAX_BATCH_RECORDS: '50',
      },
    });
    fleets.push({ name, fleet, log: join(dir, 'inference-tagger.log') });
    // One after the other: the second finds the first one's seed and serves it.
    await fleet.waitReady('inference-tagger', 60_000);
  }
});

after(async () => {
  await Promise.all(fleets.map((f) => f.fleet.stop()));
  await deleteNamespace(kafka, runId);
  await deleteValueSubjects(stack.registryUrl, [topics.normalized, topics.tagged]);
  store.remove();
});

const runCli = (args: string[]) => runPatternflow(['--namespace', runId, ...args], env);

interface Command {
  name: string;
  started: number;
  returned: number;
  result: {
    deployment: { at: string };
    replicas: { replica: string; status: string; at: string }[];
    waited: string;
  };
}

async function deploy(name: string, args: string[]): Promise<Command> {
  const started = Date.now();
  const run = await runCli([
    'model',
    ...args,
    '--reason',
    `e2e ${name}`,
    '--wait',
    '--timeout',
    '30',
    '--json',
  ]);
  const returned = Date.now();
  assert.equal(run.code, 0, `${name}: ${run.stderr}${run.stdout}`);
  const result = JSON.parse(run.stdout) as Command['result'];
  assert.equal(result.waited, 'in-force', name);
  assert.equal(result.replicas.length, 2, `${name}: both replicas acknowledged`);
  return { name, started, returned, result };
}

/** The canary's stable hash, computed here independently of the tagger. */
const hashShare = (id: string) =>
  Number(createHash('sha256').update(id).digest().readBigUInt64BE(0)) / 2 ** 64;
const expectedLabel = (version: string, scores: Record<string, number>) =>
  (scores.fraud ?? 0) >= THRESHOLDS[version]! ? 'fraud' : 'legit';

/** The input partitions a replica consumes, from its latest "joined consumer group" log line. */
function assignmentOf(log: string): number[] {
  const joins = readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"joined consumer group"'))
    .map((line) => JSON.parse(line) as { assignment: Record<string, number[]> });
  return joins.at(-1)?.assignment[topics.normalized] ?? [];
}

test('shadow, canary, promote and rollback under traffic: each record once, by the version it names; rollback ≤ 10 s on every replica; a damaged deployment refused', {
  timeout: 240_000,
}, async (t) => {
  const encoder = await codec.encoderFor(valueSubject(topics.normalized), loadSchema('normalized'));
  const events = generateEvents({ seed: 9090, count: 20_000, sources: ['payments'] })[Symbol.iterator]();
  const produced = new Map<string, number>(); // id → partition
  let stop = false;
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const traffic = (async () => {
    let n = 0;
    while (!stop) {
      const tick = Date.now();
      const messages = [];
      for (let i = 0; i < PER_TICK; i++) {
        const next = events.next();
        assert.ok(!next.done, 'enough generated events');
        const record = toNormalizedPattern('payments', next.value.event);
        const partition = n++ % PARTITIONS;
        if (produced.has(record.id)) continue;
        produced.set(record.id, partition);
        messages.push({ partition, key: record.id, value: encoder.encode(record) });
      }
      await producer.send({ topic: topics.normalized, acks: -1, messages });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (Date.now() - tick))));
    }
  })();
  const pause = () => new Promise((resolve) => setTimeout(resolve, PHASE_MS));
  const commands: Command[] = [];
  let refusal: { written: number; acks: Record<string, string> } | undefined;
  try {
    await pause();
    commands.push(await deploy('shadow', ['shadow', NAME, '1.1.0']));
    await pause();
    commands.push(await deploy('canary', ['canary', NAME, '1.1.0', '--share', String(CANARY_SHARE)]));
    await pause();
    commands.push(await deploy('promote', ['promote', NAME, '1.1.0']));
    await pause();
    commands.push(await deploy('rollback', ['rollback', 'payments']));
    await pause();
    // A deployment no replica can verify: written directly (as by a CLI with another store),
    // then the version's bytes are damaged before any replica loads it.
    store.flipModelByte(NAME, '1.2.0');
    const state = await readModelControlState({
      kafka,
      topics,
      groupId: `${runId}.read.${Date.now()}`,
      logger,
    });
    const change = deploymentChange({
      topics,
      source: 'payments',
      serving: { name: NAME, version: '1.2.0', sha256: damagedSha },
      candidate: null,
      previous: state.deployments.get('payments'),
      action: 'model.promote',
      who: 'e2e',
      reason: 'e2e: a damaged version',
    });
    const writer = openTransactionalWriter({ kafka, transactionalId: `${runId}.writer` });
    await writer.write(change.messages);
    await writer.close();
    const written = Date.now();
    for (;;) {
      const acks = (
        await readModelControlState({ kafka, topics, groupId: `${runId}.read.${Date.now()}`, logger })
      ).acks;
      const answers = [...acks.values()]
        .map((a) => a.sources.payments)
        .filter((s) => s?.id === change.deployment.id);
      if (answers.length === 2) {
        refusal = {
          written,
          acks: Object.fromEntries([...acks].map(([r, a]) => [r, a.sources.payments?.detail ?? ''])),
        };
        for (const answer of answers) {
          assert.equal(answer?.status, 'rejected');
          assert.equal(answer?.serving.version, '1.0.0', 'the replica keeps serving 1.0.0');
          assert.match(
            answer?.detail ?? '',
            /kept payments-fraud-rf@1\.0\.0: .*does not match its signed manifest/,
          );
        }
        break;
      }
      assert.ok(Date.now() - written < 20_000, 'both replicas answered the damaged deployment');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await pause();
  } finally {
    stop = true;
    await traffic;
    await producer.disconnect();
  }

  // Every produced id, read back from patterns.tagged and its expedited sibling.
  const decoder = codec.decoderFor(loadSchema('tagged'));
  let tagged: TaggedPattern[] = [];
  for (const deadline = Date.now() + 60_000; ; ) {
    const records = [];
    for (const topic of [topics.taggedPriority, topics.tagged]) {
      records.push(
        ...(await readTopicToEnd({ kafka, topic, groupId: `${runId}.reader.${Date.now()}`, logger })),
      );
    }
    if (records.length >= produced.size || Date.now() > deadline) {
      tagged = await Promise.all(
        records.map(async (r) => (await decoder.decode(r.value as Buffer)).value as TaggedPattern),
      );
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const seen = new Map<string, number>();
  for (const r of tagged) seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
  assert.equal(seen.size, produced.size, 'every produced id was tagged');
  assert.deepEqual(
    [...seen].filter(([, n]) => n > 1),
    [],
    'no id tagged twice',
  );
  assert.deepEqual(
    [...seen.keys()].filter((id) => !produced.has(id)),
    [],
    'only the ids produced',
  );

  // Each record names the version that labelled it: its sha256, and the label its threshold gives.
  for (const r of tagged) {
    const { inference: inf } = r;
    assert.equal(inf.model_name, NAME);
    assert.equal(inf.model_sha256, SHA[inf.model_version], `${r.id}: sha256 of ${inf.model_version}`);
    assert.equal(
      inf.label,
      expectedLabel(inf.model_version, inf.scores),
      `${r.id}: label of ${inf.model_version}`,
    );
    if (inf.shadow) {
      assert.equal(inf.model_version, '1.0.0');
      assert.equal(inf.shadow.model_version, '1.1.0');
      assert.equal(inf.shadow.model_sha256, SHA['1.1.0']);
      // Same trees, so the same probabilities: the shadow label is 1.1.0's threshold on them.
      assert.equal(inf.shadow.label, expectedLabel('1.1.0', inf.scores), `${r.id}: shadow label`);
      assert.ok(Math.abs(inf.shadow.score - inf.scores[inf.shadow.label]!) < 1e-6);
    }
  }

  // Each phase's window: from SETTLE_MS after its --wait returned to the next command's start.
  const [shadow, canary, promote, rollback] = commands as [Command, Command, Command, Command];
  const windowOf = (command: Command, next: number) =>
    tagged.filter(
      (r) => r.inference.inferred_at > command.returned + SETTLE_MS && r.inference.inferred_at < next,
    );
  const shadowWindow = windowOf(shadow, canary.started);
  const canaryWindow = windowOf(canary, promote.started);
  const promoteWindow = windowOf(promote, rollback.started);
  const rollbackWindow = windowOf(rollback, refusal!.written);
  const afterRefusal = tagged.filter((r) => r.inference.inferred_at > refusal!.written);
  for (const [name, window] of Object.entries({
    shadowWindow,
    canaryWindow,
    promoteWindow,
    rollbackWindow,
    afterRefusal,
  }))
    assert.ok(window.length > 100, `${name}: ${window.length} records`);
  assert.ok(
    shadowWindow.every(
      (r) => r.inference.model_version === '1.0.0' && r.inference.shadow?.model_version === '1.1.0',
    ),
  );
  const wrongCanary = canaryWindow.filter(
    (r) =>
      r.inference.shadow ||
      r.inference.model_version !== (hashShare(r.id) < CANARY_SHARE ? '1.1.0' : '1.0.0'),
  );
  assert.deepEqual(
    wrongCanary.map((r) => r.id),
    [],
    'canary: exactly the ids hashing below the share',
  );
  const canaryCount = canaryWindow.filter((r) => r.inference.model_version === '1.1.0').length;
  const sigma = Math.sqrt(canaryWindow.length * CANARY_SHARE * (1 - CANARY_SHARE));
  assert.ok(
    Math.abs(canaryCount - canaryWindow.length * CANARY_SHARE) <= 4 * sigma,
    `canary share ${canaryCount}/${canaryWindow.length} within 4 sigma of ${CANARY_SHARE}`,
  );
  assert.ok(promoteWindow.every((r) => r.inference.model_version === '1.1.0' && !r.inference.shadow));
  assert.ok(rollbackWindow.every((r) => r.inference.model_version === '1.0.0' && !r.inference.shadow));
  assert.ok(
    afterRefusal.every((r) => r.inference.model_version === '1.0.0'),
    'the refused deployment never labelled',
  );

  // Shadow metrics of both replicas = the records' shadow fields, per class pair.
  const shadowed = tagged.filter((r) => r.inference.shadow);
  const pairs = new Map<string, number>();
  for (const r of shadowed) {
    if (r.inference.label === r.inference.shadow!.label) continue;
    const key = `serving_label="${r.inference.label}",candidate_label="${r.inference.shadow!.label}"`;
    pairs.set(key, (pairs.get(key) ?? 0) + 1);
  }
  assert.ok(pairs.size > 0, 'the shadow candidate disagreed somewhere');
  const metrics = await Promise.all(fleets.map((f) => f.fleet.metrics('inference-tagger')));
  const total = (name: string, filter = '') =>
    metrics.reduce((sum, text) => sum + metricSum(text, name, filter), 0);
  assert.equal(total('pf_shadow_records_total', 'source="payments"'), shadowed.length);
  for (const pair of [
    'serving_label="legit",candidate_label="fraud"',
    'serving_label="fraud",candidate_label="legit"',
  ])
    assert.equal(total('pf_shadow_disagreements_total', pair), pairs.get(pair) ?? 0, pair);
  // Canary-labelled: 1.1.0 records before the promotion (its swap lands between the command and --wait's return).
  const canaryLabelled = (until: number) =>
    tagged.filter((r) => r.inference.model_version === '1.1.0' && r.inference.inferred_at < until).length;
  const canaryMetric = total('pf_model_records_total', 'role="canary"');
  assert.ok(
    canaryMetric >= canaryLabelled(promote.started) && canaryMetric <= canaryLabelled(promote.returned),
    `pf_model_records_total{role="canary"} ${canaryMetric} counts the canary-labelled records`,
  );
  for (const text of metrics) {
    assert.equal(
      metricSum(text, 'pf_model_serving_info', `version="1.0.0"`),
      1,
      'both replicas report 1.0.0 serving',
    );
    assert.equal(metricSum(text, 'pf_model_serving_info', `version="1.1.0"`), 0);
  }

  // Per replica: time from each command to its first record labelled the new way; rollback ≤ 10 s.
  const figures: string[] = [];
  const partitionsSeen = new Set<number>();
  for (const { name, log } of fleets) {
    const partitions = assignmentOf(log);
    assert.ok(partitions.length > 0, `replica ${name} consumes some partition`);
    for (const p of partitions) partitionsSeen.add(p);
    const mine = tagged.filter((r) => partitions.includes(produced.get(r.id)!));
    const first = (from: number, match: (r: TaggedPattern) => boolean) =>
      Math.min(
        ...mine
          .filter((r) => r.inference.inferred_at >= from && match(r))
          .map((r) => r.inference.inferred_at),
      ) - from;
    const toShadow = first(shadow.started, (r) => Boolean(r.inference.shadow));
    const toCanary = first(
      canary.started,
      (r) => !r.inference.shadow && r.inference.model_version === '1.1.0',
    );
    // Promotion: 1.1.0 on a record the canary would not have given it.
    const toPromote = first(
      promote.started,
      (r) => r.inference.model_version === '1.1.0' && hashShare(r.id) >= CANARY_SHARE,
    );
    const toRollback = first(rollback.started, (r) => r.inference.model_version === '1.0.0');
    assert.ok(
      toRollback <= 10_000,
      `replica ${name}: first 1.0.0 record ${toRollback} ms after the rollback command`,
    );
    figures.push(
      `replica ${name} (partitions ${partitions.join(',')}): first record by the new deployment after the command: shadow ${toShadow} ms, canary ${toCanary} ms, promote ${toPromote} ms, rollback ${toRollback} ms`,
    );
  }
  assert.equal(partitionsSeen.size, PARTITIONS, 'the two replicas share every partition');
  for (const c of commands) {
    const acks = c.result.replicas.map((r) => Date.parse(r.at) - c.started);
    assert.ok(
      acks.every((ms) => ms <= 10_000),
      `${c.name}: every replica acknowledged within 10 s (${acks.join(', ')} ms)`,
    );
    figures.push(
      `${c.name}: --wait returned after ${c.returned - c.started} ms; acknowledged ${acks.join(' / ')} ms after the command started`,
    );
  }
  figures.push(
    `${tagged.length} records; canary window ${canaryCount}/${canaryWindow.length} = ${(canaryCount / canaryWindow.length).toFixed(3)} (share ${CANARY_SHARE}); shadow ${shadowed.length} records, disagreements ${JSON.stringify(Object.fromEntries(pairs))}`,
  );
  for (const line of figures) t.diagnostic(line);

  // The audit trail, as the CLI shows it.
  const history = await runCli(['model', 'history', '--source', 'payments', '--json']);
  assert.equal(history.code, 0, history.stderr);
  const actions = (JSON.parse(history.stdout) as { action: string; to: string }[]).map(
    (e) => `${e.action} ${e.to}`,
  );
  assert.deepEqual(actions.slice(0, 5), [
    'model.promote payments-fraud-rf@1.2.0',
    'model.rollback payments-fraud-rf@1.0.0',
    'model.promote payments-fraud-rf@1.1.0',
    'model.canary payments-fraud-rf@1.1.0 (canary 0.3)',
    'model.shadow payments-fraud-rf@1.1.0 (shadow)',
  ]);
  assert.ok(actions.slice(5).every((a) => a === 'model.seed payments-fraud-rf@1.0.0'));
});
