/**
 * Closing the loop on the real stack (`patternflow model retrain`, docs/models.md): records
 * stored in PostgreSQL as the sink stores them (its writer and migrations), ground truth
 * stored through the sink's feedback handler (its upsert), a deployment of payments on the
 * models control topic; then the real bin retrains payments on a small training set and
 * the test checks: the new version is in the store and verifies with the DEV public key;
 * its signed manifest names the feedback rows it trained on and the ones it held out (the
 * split recomputed here), and holds the evaluation of both versions on the same held-out
 * data (the serving version's feedback metrics recomputed here from the predictions stored
 * in PostgreSQL); the control topic shows it as the shadow candidate of payments, with its
 * audit entry; a second run for the same version is refused before any training.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import {
  deleteNamespace,
  reservePorts,
  runPatternflow,
  type ServiceFleet,
  stack,
  startServices,
} from '@patternflow/harness';
import { createKafka, ensureTopics, type InboundRecord } from '@patternflow/kafka';
import {
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  listModelVersions,
  loadModelRuntime,
  readPublicKey,
} from '@patternflow/models';
import { createLogger } from '@patternflow/observability';
import { type RoutedPattern, topicNames } from '@patternflow/records';
import { extractFeatures } from '@patternflow/sources';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createFeedbackCounter, createFeedbackHandler } from '../../services/sink/src/feedback.ts';
import { createPostgresWriter } from '../../services/sink/src/postgres-writer.ts';

const runId = `rtr${randomBytes(4).toString('hex')}`;
const schema = `retrain_${randomBytes(4).toString('hex')}`;
const env = { PF_TOPIC_NAMESPACE: runId, PF_PG_SCHEMA: schema, PF_MODEL_SIGNING_KEY: '' };
/** Shifted payments traffic: the production the feedback describes differs from the training data. */
const RECORDS = 600;
const SHIFT = { amountScale: 4, countries: ['NG', 'BR'] };
const HELD_OUT_SHARE = 0.2;
const NAME = 'payments-fraud-rf';

let root: string;
let store: string;
let pool: pg.Pool;
let fleet: ServiceFleet | undefined;
const kafka = createKafka({
  brokers: stack.brokers,
  clientId: runId,
  security: stack.kafkaSecurity,
  logger: createLogger({ service: 'retrain-e2e', level: 'error' }),
  clientLogLevel: 'error',
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
const truth = new Map<string, string>();
const stored = new Map<string, string>();

const heldOut = (id: string) =>
  createHash('sha256').update(id).digest().readUInt32BE(0) / 2 ** 32 < HELD_OUT_SHARE;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'pf-retrain-e2e-'));
  store = join(root, 'models');
  // A private copy of the repo's store (DEV-signed): the repo's models/ is never written.
  cpSync(DEFAULT_MODEL_STORE, store, { recursive: true });
  const admin = new pg.Client(stack.pg);
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  pool = new pg.Pool({ ...stack.pg, options: `-c search_path=${schema}`, max: 2 });
  const writer = createPostgresWriter({ pool });
  await writer.migrate();

  // The records as the sink stores them, labelled by the serving version 1.0.0.
  const runtime = await loadModelRuntime({ store, publicKey: readPublicKey(DEV_PUBLIC_KEY_PATH) });
  const routed: RoutedPattern[] = [];
  try {
    const records = [
      ...generateEvents({ seed: 4242, count: RECORDS, sources: ['payments'], shift: SHIFT }),
    ].map((ev) => {
      const record = toNormalizedPattern('payments', ev.event);
      truth.set(record.id, ev.label);
      return record;
    });
    const outcomes = await runtime.predict(
      'payments',
      records.map((r) => extractFeatures(r).values),
    );
    records.forEach((record, i) => {
      const outcome = outcomes[i]!;
      assert.ok(outcome.ok);
      stored.set(record.id, outcome.prediction.label);
      routed.push({
        ...record,
        inference: {
          label: outcome.prediction.label,
          score: outcome.prediction.score,
          scores: outcome.prediction.scores,
          model_name: outcome.prediction.modelName,
          model_version: outcome.prediction.modelVersion,
          model_sha256: outcome.prediction.modelSha256,
          inferred_at: Date.now(),
        },
        route: { lane: 'bulk', rule: 'test', policy_version: 'p1', routed_at: Date.now() },
      });
    });
  } finally {
    await runtime.close();
  }
  // One stored record whose features cannot be recomputed (a required attribute is gone).
  const broken = structuredClone(routed[0]!);
  broken.id = `${runId}-broken`;
  delete broken.attributes['amount.value_minor'];
  routed.push(broken);
  const written = await writer.writeBatch(routed);
  assert.equal(written.inserted, RECORDS + 1);

  // Ground truth through the sink's feedback handler: every record, the broken one, five
  // labels the model does not know, three ids without a stored prediction.
  const feedback = [
    ...[...truth].map(([id, label]) => ({ id, label, source: 'payments' })),
    { id: broken.id, label: 'fraud', source: 'payments' },
    ...[...truth.keys()].slice(0, 5).map((id) => ({ id, label: 'chargeback_pending', source: 'payments' })),
    ...[1, 2, 3].map((n) => ({ id: `${runId}-unknown-${n}`, label: 'fraud', source: 'payments' })),
  ];
  for (const f of feedback.slice(RECORDS + 1, RECORDS + 6)) truth.delete(f.id);
  const handler = createFeedbackHandler({ pool, received: createFeedbackCounter(new Registry()) });
  const inbound = feedback.map(
    (f, offset): InboundRecord => ({
      topic: `${runId}.patterns.feedback`,
      partition: 0,
      offset: String(offset),
      timestamp: Date.now(),
      key: Buffer.from(f.id),
      value: Buffer.from(JSON.stringify(f)),
      headers: {},
    }),
  );
  const { deadLetters } = await handler(inbound);
  assert.equal(deadLetters.length, 0);

  // A tagger replica on the private store: it seeds the deployment of every source (1.0.0),
  // which the retrain reads and registers against, and follows it.
  await ensureTopics(kafka, [{ topic: topicNames(runId).normalized, partitions: 1 }]);
  fleet = startServices({
    logDir: join(root, 'logs'),
    basePort: await reservePorts(1),
    only: ['inference-tagger'],
    env: {
      PF_KAFKA_BROKERS: stack.brokers.join(','),
      PF_REGISTRY_URL: stack.registryUrl,
      PF_TOPIC_NAMESPACE: runId,
      PF_MODELS_DIR: store,
      PF_PAUSE_WHEN_BACKLOG_ABOVE: '0',
    },
  });
  await fleet.waitReady('inference-tagger', 60_000);
  await waitFor('the tagger seeds the deployment of payments', async () => {
    const shown = await runPatternflow(['--json', 'model', 'show'], env);
    return (
      shown.code === 0 &&
      JSON.parse(shown.stdout).deployments.some((d: { source: string }) => d.source === 'payments')
    );
  });
});

after(async () => {
  await fleet?.stop();
  await pool?.end();
  const admin = new pg.Client(stack.pg);
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  await deleteNamespace(kafka, runId);
  if (root) rmSync(root, { recursive: true, force: true });
});

interface Metrics {
  rows: number;
  macro_f1: number;
  per_class: Record<string, { precision: number; recall: number; f1: number; support: number }>;
}

test('retrain: feedback + original set → signed 1.1.0 with both evaluations, registered as the shadow candidate', async () => {
  const started = Date.now();
  const run = await runPatternflow(
    [
      '--json',
      'model',
      'retrain',
      'payments',
      '--reason',
      'feedback from shifted traffic',
      '--who',
      'e2e',
      '--store',
      store,
      '--train-rows',
      '4000',
      '--test-rows',
      '1000',
      '--eval-rows',
      '2000',
      '--feedback-weight',
      '3',
    ],
    env,
    180_000,
  );
  const seconds = (Date.now() - started) / 1000;
  assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
  assert.match(run.stderr, /signing with the repo's DEV key/);
  const report = JSON.parse(run.stdout);

  // Harvest: every stored pair, the skipped ones counted by reason, no skew.
  const { harvest } = report;
  assert.equal(harvest.pairs, RECORDS + 1);
  assert.equal(harvest.unmatched, 3);
  assert.deepEqual(harvest.skipped_unknown_label, { chargeback_pending: 5 });
  assert.deepEqual(harvest.skipped_features, { PF_INVALID_FEATURES: 1 });
  assert.equal(harvest.usable, RECORDS - 5);
  assert.deepEqual(harvest.skew_check, { version: '1.0.0', checked: RECORDS - 5, same_label: RECORDS - 5 });

  // The version: in the store, verified with the DEV public key.
  const dir = join(store, NAME, '1.1.0');
  assert.ok(existsSync(dir));
  const entry = (await listModelVersions(store, readPublicKey(DEV_PUBLIC_KEY_PATH))).find(
    (e) => e.name === NAME && e.version === '1.1.0',
  );
  assert.ok(entry?.verified, entry?.problem?.message);
  assert.equal(entry.sha256, report.result.sha256);

  // The manifest names the feedback rows and the split, as computed here.
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const ids = [...truth.keys()].sort();
  assert.deepEqual(manifest.retraining.feedback_held_out_ids, ids.filter(heldOut));
  assert.deepEqual(
    manifest.retraining.feedback_train_ids,
    ids.filter((id) => !heldOut(id)),
  );
  assert.deepEqual(manifest.retraining.from, {
    name: NAME,
    version: '1.0.0',
    sha256: manifest.evaluation.serving.sha256,
  });
  assert.equal(manifest.retraining.reason, 'feedback from shifted traffic');
  assert.equal(manifest.training.train_rows, 4000);
  assert.equal(manifest.training.feedback_rows, manifest.retraining.feedback_train_ids.length);
  assert.equal(manifest.training.feedback_weight, 3);
  assert.ok(manifest.reference, 'the drift reference block');

  // Both versions on the same data; the serving one's feedback metrics equal the stored predictions'.
  const { evaluation } = manifest;
  assert.equal(evaluation.serving.version, '1.0.0');
  assert.equal(evaluation.candidate.version, '1.1.0');
  for (const set of ['generated', 'feedback_held_out']) {
    assert.equal(evaluation.serving[set].rows, evaluation.candidate[set].rows);
  }
  assert.equal(evaluation.serving.generated.rows, 2000);
  const held = ids.filter(heldOut);
  assert.equal(evaluation.serving.feedback_held_out.rows, held.length);
  const servingHeld = evaluation.serving.feedback_held_out as Metrics;
  for (const label of ['legit', 'fraud']) {
    const tp = held.filter((id) => stored.get(id) === label && truth.get(id) === label).length;
    const fp = held.filter((id) => stored.get(id) === label && truth.get(id) !== label).length;
    const fn = held.filter((id) => stored.get(id) !== label && truth.get(id) === label).length;
    const precision = tp + fp ? tp / (tp + fp) : 0;
    const recall = tp + fn ? tp / (tp + fn) : 0;
    assert.equal(servingHeld.per_class[label]!.precision, Math.round(precision * 1e4) / 1e4, label);
    assert.equal(servingHeld.per_class[label]!.recall, Math.round(recall * 1e4) / 1e4, label);
    assert.equal(servingHeld.per_class[label]!.support, tp + fn, label);
  }
  assert.deepEqual(report.result.evaluation, evaluation);

  // Registered: the shadow candidate of payments on the control topic, with its audit entry.
  const shown = await runPatternflow(['--json', 'model', 'show'], env);
  assert.equal(shown.code, 0, shown.stderr);
  const deployment = JSON.parse(shown.stdout).deployments.find(
    (d: { source: string }) => d.source === 'payments',
  );
  assert.equal(deployment.serving.version, '1.0.0');
  assert.deepEqual(
    {
      name: deployment.candidate.name,
      version: deployment.candidate.version,
      mode: deployment.candidate.mode,
    },
    { name: NAME, version: '1.1.0', mode: 'shadow' },
  );
  assert.equal(deployment.candidate.sha256, report.result.sha256);
  const history = await runPatternflow(['--json', 'model', 'history', '--source', 'payments'], env);
  const [latest] = JSON.parse(history.stdout);
  assert.equal(latest.action, 'model.shadow');
  assert.equal(latest.who, 'e2e');
  assert.equal(latest.reason, 'feedback from shifted traffic');

  // The running tagger replica loads it (verified) and labels payments with it as its shadow.
  await waitFor('the tagger acknowledges 1.1.0 as the shadow candidate of payments', async () => {
    const view = JSON.parse((await runPatternflow(['--json', 'model', 'show'], env)).stdout);
    type Ack = { status: string; id: string; candidate: { version: string; mode: string } | null };
    return (view.replicas as { running: boolean; sources: Record<string, Ack> }[]).some((r) => {
      const ack = r.sources.payments;
      return (
        r.running &&
        ack !== undefined &&
        ack.id === deployment.id &&
        ack.status === 'in-force' &&
        ack.candidate?.version === '1.1.0' &&
        ack.candidate.mode === 'shadow'
      );
    });
  });

  // The same version again is refused before any training, and nothing changes.
  const again = await runPatternflow(
    ['model', 'retrain', 'payments', '--reason', 'again', '--new-version', '1.1.0', '--store', store],
    env,
  );
  assert.equal(again.code, 4, again.stderr);
  assert.match(again.stderr, /payments-fraud-rf@1\.1\.0 exists/);

  // --since filters on when the feedback was received: none since now.
  const none = await runPatternflow(
    [
      'model',
      'retrain',
      'payments',
      '--reason',
      'r',
      '--new-version',
      '1.3.0',
      '--since',
      new Date().toISOString(),
      '--store',
      store,
    ],
    env,
  );
  assert.equal(none.code, 1, none.stderr);
  assert.match(
    none.stderr,
    /no usable feedback for payments since .*: 0 pairs read, 0 feedback rows without a stored prediction/,
  );

  // A dry run trains and evaluates (text report) but writes and registers nothing.
  const dry = await runPatternflow(
    [
      'model',
      'retrain',
      'payments',
      '--reason',
      'dry',
      '--new-version',
      '1.2.0',
      '--dry-run',
      '--store',
      store,
      '--train-rows',
      '2000',
      '--test-rows',
      '500',
      '--eval-rows',
      '500',
    ],
    env,
    180_000,
  );
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(
    dry.stdout,
    /skew check: 595\/595 recomputed rows get the label payments-fraud-rf@1\.0\.0 stored/,
  );
  assert.match(dry.stdout, /macro-F1: serving \d\.\d{3}, candidate \d\.\d{3}/);
  assert.match(dry.stdout, /dry run: nothing written to the store, nothing registered/);
  assert.equal(existsSync(join(store, NAME, '1.2.0')), false);
  const afterDry = await runPatternflow(['--json', 'model', 'show'], env);
  const stillCandidate = JSON.parse(afterDry.stdout).deployments.find(
    (d: { source: string }) => d.source === 'payments',
  ).candidate;
  assert.equal(stillCandidate.version, '1.1.0');
  console.log(dry.stdout);

  const f = (m: Metrics) => m.macro_f1.toFixed(3);
  console.log(
    `retrain e2e: ${seconds.toFixed(1)} s for the command (timings ${JSON.stringify(report.result.timings)}); ` +
      `feedback trained ${manifest.training.feedback_rows}, held out ${held.length}; macro-F1 generated ` +
      `${f(evaluation.serving.generated)} → ${f(evaluation.candidate.generated)}, held-out feedback ` +
      `${f(evaluation.serving.feedback_held_out)} → ${f(evaluation.candidate.feedback_held_out)}`,
  );
});
