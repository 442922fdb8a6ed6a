/**
 * Semantic observability on the running pipeline (the four services as processes, the real
 * stack): (a) the drift alarm's condition — PatternflowFeatureDrift's expression, its
 * threshold read from ops/prometheus/alerts.yml — stays false on normal traffic and
 * becomes true on shifted traffic, and how many shifted records that takes; (b) precision,
 * recall and F1 from ground truth feedback, as the sink exports them and as the
 * pattern_feedback_joined view holds them, equal a computation done here from the
 * predictions read back from PostgreSQL and the feedback sent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateEvents } from '@patternflow/generators';
import {
  deleteNamespace,
  produceGeneratedEvents,
  reservePorts,
  type ServiceFleet,
  stack,
  startServices,
} from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { getSourceAdapter } from '@patternflow/sources';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import { parse } from 'yaml';

const ROOT = new URL('../../', import.meta.url).pathname;
const runId = `sem${randomBytes(4).toString('hex')}`;
const topics = topicNames(runId);
const logDir = join(ROOT, '.stack', 'logs', runId);
const basePort = await reservePorts(4);
/** The drift window of this test: 500 records in 10 buckets of 50 (production default 2000 / 20). */
const WINDOW = 500;
const SHIFT = { amountScale: 5, countries: ['NG', 'BR'] };

let fleet: ServiceFleet;
let kafka: Kafka;
let pool: pg.Pool;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
/** The samples of a Prometheus text exposition (enough for gauges and counters). */
function samples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    out.push({ name, labels, value: Number(match[3]) });
  }
  return out;
}

/** The threshold of a rule `max by (source, model) (<metric>) > X`, read from the real alerts.yml. */
function ruleThreshold(alert: string, metric: string): number {
  const file = parse(readFileSync(join(ROOT, 'ops', 'prometheus', 'alerts.yml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const rule = file.groups.flatMap((g) => g.rules).find((r) => r.alert === alert);
  assert.ok(rule, `${alert} is in alerts.yml`);
  const match = new RegExp(`max by \\(source, model\\) \\(${metric}\\) > ([0-9.]+)`).exec(rule.expr);
  assert.ok(match, `${alert}: ${rule.expr}`);
  assert.match(rule.expr, /pf_drift_window_fill\) >= 1/);
  return Number(match[1]);
}

/** PatternflowFeatureDrift's expression for one source, evaluated on the tagger's /metrics. */
async function driftState(source: string) {
  const text = await fleet.metrics('inference-tagger');
  const psi = samples(text, 'pf_feature_psi').filter((s) => s.labels.source === source);
  const fill = samples(text, 'pf_drift_window_fill').find((s) => s.labels.source === source)?.value ?? 0;
  const records = samples(text, 'pf_drift_records_total').find((s) => s.labels.source === source)?.value ?? 0;
  const label = samples(text, 'pf_label_psi').find((s) => s.labels.source === source)?.value ?? 0;
  const none: Sample = { name: 'pf_feature_psi', labels: { feature: '' }, value: 0 };
  const worst = psi.reduce((a, b) => (b.value > a.value ? b : a), none);
  return { psi, fill, records, label, max: worst.value, feature: worst.labels.feature! };
}

async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

const load = (
  seed: number,
  count: number,
  extra: Partial<Parameters<typeof produceGeneratedEvents>[0]> = {},
) =>
  produceGeneratedEvents({
    kafka,
    registryUrl: stack.registryUrl,
    topics,
    seed,
    count,
    avroShare: 0.3,
    ...extra,
  });

describe('semantic observability', { timeout: 240_000 }, () => {
  before(async () => {
    const logger = createLogger({ service: 'semantic-e2e', level: 'error' });
    kafka = createKafka({ brokers: stack.brokers, clientId: runId, logger, clientLogLevel: 'error' });
    pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2 });
    fleet = startServices({
      logDir,
      basePort,
      env: {
        PF_KAFKA_BROKERS: stack.brokers.join(','),
        PF_REGISTRY_URL: stack.registryUrl,
        PF_PG_URL: stack.pgUrl,
        PF_PG_SCHEMA: runId,
        PF_COLD_DIR: join(logDir, 'cold'),
        PF_TOPIC_NAMESPACE: runId,
        PF_LOG_LEVEL: 'warn',
        PF_DRIFT_WINDOW_RECORDS: String(WINDOW),
        PF_DRIFT_BUCKETS: '10',
        PF_FEEDBACK_REFRESH_MS: '300',
      },
    });
    await fleet.waitReady();
  });

  after(async () => {
    await fleet?.stop();
    rmSync(join(logDir, 'cold'), { recursive: true, force: true });
    if (kafka) await deleteNamespace(kafka, runId);
    await pool?.query(`DROP SCHEMA IF EXISTS ${runId} CASCADE`).catch(() => {});
    await pool?.end();
  });

  test('the drift alarm stays silent on normal traffic and fires on shifted traffic', async () => {
    const threshold = ruleThreshold('PatternflowFeatureDrift', 'pf_feature_psi');
    const labelThreshold = ruleThreshold('PatternflowPredictionDrift', 'pf_label_psi');
    // Normal traffic: 1000 unshifted payments, checked every 200 once the window has filled.
    let normalSent = 0;
    let quietMax = 0;
    let state = await driftState('payments');
    for (let seed = 101; seed < 106; seed++) {
      normalSent += (await load(seed, 200, { sources: ['payments'] })).sent;
      state = await waitFor(
        'the tagger counted the normal records',
        () => driftState('payments'),
        (s) => s.records >= normalSent,
      );
      if (state.fill < 1) continue;
      assert.ok(state.psi.length >= 10, `PSI of every measured feature is exported (${state.psi.length})`);
      assert.ok(
        state.psi.every((s) => s.value < threshold),
        `no feature drifts on normal traffic: ${state.psi.map((s) => `${s.labels.feature}=${s.value.toFixed(3)}`).join(' ')}`,
      );
      assert.ok(
        state.label < labelThreshold,
        `the label mix does not drift on normal traffic: ${state.label}`,
      );
      quietMax = Math.max(quietMax, state.max);
    }
    assert.equal(state.fill, 1, 'the window filled');

    // Shifted traffic, 20 records at a time, until the condition holds.
    let shifted = 0;
    let firedAfter: number | undefined;
    for (let seed = 200; shifted < WINDOW && firedAfter === undefined; seed++) {
      const batch = await load(seed, 20, { sources: ['payments'], shift: SHIFT });
      shifted += batch.sent;
      state = await waitFor(
        'the tagger counted the shifted records',
        () => driftState('payments'),
        (s) => s.records >= normalSent + shifted,
      );
      console.log(`# ${shifted} shifted records: max feature PSI ${state.max.toFixed(3)} (${state.feature})`);
      if (state.max > threshold && state.fill >= 1) firedAfter = shifted;
    }
    assert.ok(
      firedAfter !== undefined,
      `the drift condition held within a window of shifted records (max ${state.max})`,
    );
    console.log(
      `# drift: normal traffic max PSI ${quietMax.toFixed(3)}; fired after ${firedAfter} shifted records ` +
        `(window ${WINDOW}, ${state.feature} PSI ${state.max.toFixed(2)})`,
    );
    // amount ×5: the amount feature moves first, and in well under half a window.
    assert.ok(firedAfter <= WINDOW / 2, `fired after ${firedAfter} records`);
    assert.match(state.feature, /amount/);
  });

  test('precision, recall and F1 from feedback equal an independent computation, in metrics and in PostgreSQL', async () => {
    // Feedback may arrive before its prediction is stored: the truth for these 30 records is
    // sent (and stored by the sink) before the records themselves are produced.
    const early = [...generateEvents({ seed: 302, count: 30 })].map(({ source, event, label }) => ({
      id: getSourceAdapter(source)!.normalize(event).id,
      label,
    }));
    const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    const truth = new Map<string, string>();
    const feedback = (id: string, label: string, extra: Record<string, unknown> = {}) => {
      truth.set(id, label);
      return { key: id, value: JSON.stringify({ id, label, ...extra }) };
    };
    await producer.send({
      topic: topics.feedback,
      acks: -1,
      messages: early.map((e) => feedback(e.id, e.label)),
    });
    await waitFor(
      'the sink stored the early feedback',
      async () => samples(await fleet.metrics('sink'), 'pf_feedback_received_total'),
      (s) => s.find((x) => x.labels.result === 'stored')?.value === early.length,
    );
    const sent = await load(301, 240);
    const late = await load(302, 30, { avroShare: 0 });
    assert.deepEqual(
      late.ids,
      early.map((e) => e.id),
      'the early feedback names these records',
    );
    const allIds = [...sent.ids, ...late.ids];
    const deadline = Date.now() + 90_000;
    for (;;) {
      const { rows } = await pool
        .query(`SELECT count(*)::int AS n FROM ${runId}.patterns WHERE id = ANY($1::text[])`, [allIds])
        .catch(() => ({ rows: [{ n: 0 }] }));
      if (rows[0].n === allIds.length) break;
      assert.ok(Date.now() < deadline, `rows stored: ${rows[0].n} of ${allIds.length}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const { rows: predictions } = await pool.query(
      `SELECT id, label, model_name, model_version FROM ${runId}.patterns WHERE id = ANY($1::text[])`,
      [allIds],
    );
    const predicted = new Map(predictions.map((r) => [r.id as string, r]));

    // Then the generator's truth for two thirds of the other records, with deliberate wrong
    // truths (disagreements beyond the model's own errors), a truth corrected by a later
    // message for the same id (the later wins), unknown ids, and malformed messages.
    const OPPOSITE: Record<string, Record<string, string>> = {
      'payments-fraud-rf': { legit: 'fraud', fraud: 'legit' },
      'auth-ato-rf': { normal: 'account_takeover', account_takeover: 'normal' },
      'netflow-attack-rf': {
        benign: 'ddos',
        port_scan: 'benign',
        ddos: 'benign',
        brute_force: 'benign',
        exfiltration: 'benign',
      },
    };
    const messages = [feedback(sent.ids[0]!, 'not_the_truth', { source: 'payments', at: Date.now() })];
    sent.ids.forEach((id, i) => {
      if (i % 3 === 2) return;
      const row = predicted.get(id)!;
      // Every 9th: the opposite of the prediction.
      const label = i % 9 === 0 ? OPPOSITE[row.model_name as string]![row.label as string]! : sent.labels[i]!;
      messages.push(feedback(id, label));
    });
    for (let k = 0; k < 5; k++) {
      messages.push(feedback(`unknown-${runId}-${k}`, 'fraud', { at: '2026-11-26T08:00:00Z' }));
    }
    const bad = [
      '{"id": "x"',
      JSON.stringify({ id: 'y', label: 'fraud', extra: 1 }),
      JSON.stringify({ id: 7, label: 'x' }),
    ];
    await producer.send({
      topic: topics.feedback,
      acks: -1,
      messages: [...messages, ...bad.map((value, i) => ({ key: `bad-${i}`, value }))],
    });
    await producer.disconnect();

    // The independent computation: pairs = feedback ids with a stored prediction.
    const pairs = [...truth].flatMap(([id, label]) => {
      const p = predicted.get(id);
      return p
        ? [
            {
              id,
              truth: label,
              predicted: p.label as string,
              model: p.model_name as string,
              version: p.model_version as string,
            },
          ]
        : [];
    });
    const expected = new Map<string, { tp: number; fp: number; fn: number }>();
    const at = (model: string, version: string, cls: string) => {
      const key = `${model}|${version}|${cls}`;
      let counts = expected.get(key);
      if (!counts) {
        counts = { tp: 0, fp: 0, fn: 0 };
        expected.set(key, counts);
      }
      return counts;
    };
    for (const p of pairs) {
      if (p.truth === p.predicted) at(p.model, p.version, p.truth).tp++;
      else {
        at(p.model, p.version, p.predicted).fp++;
        at(p.model, p.version, p.truth).fn++;
      }
    }
    assert.ok(
      pairs.some((p) => p.truth !== p.predicted),
      'some feedback disagrees with the predictions',
    );

    // The sink's gauges, once it has joined every pair.
    const text = await waitFor(
      'the sink joined every feedback pair',
      () => fleet.metrics('sink'),
      (t) => samples(t, 'pf_feedback_joined')[0]?.value === pairs.length,
      60_000,
    );
    assert.equal(samples(text, 'pf_feedback_unmatched')[0]?.value, 5, 'the five unknown ids are unmatched');
    const stored = samples(text, 'pf_feedback_received_total');
    assert.equal(stored.find((s) => s.labels.result === 'invalid')?.value, 3);
    assert.equal(stored.find((s) => s.labels.result === 'stored')?.value, early.length + messages.length);
    const dlq = samples(text, 'pf_dlq_records_total').filter(
      (s) => s.labels.reason === 'PF_FEEDBACK_INVALID',
    );
    assert.equal(
      dlq.reduce((a, s) => a + s.value, 0),
      3,
      'malformed feedback is dead-lettered with its code',
    );

    const gauge = (name: string) =>
      new Map(
        samples(text, name).map((s) => [`${s.labels.model}|${s.labels.version}|${s.labels.class}`, s.value]),
      );
    const [precision, recall, f1] = ['pf_feedback_precision', 'pf_feedback_recall', 'pf_feedback_f1'].map(
      gauge,
    );
    const close = (a: number | undefined, b: number, what: string) =>
      assert.ok(a !== undefined && Math.abs(a - b) < 1e-9, `${what}: exported ${a}, computed ${b}`);
    for (const [key, { tp, fp, fn }] of expected) {
      const p = tp + fp > 0 ? tp / (tp + fp) : undefined;
      const r = tp + fn > 0 ? tp / (tp + fn) : undefined;
      if (p === undefined)
        assert.equal(precision!.get(key), undefined, `${key}: no precision without predictions`);
      else close(precision!.get(key), p, `precision ${key}`);
      if (r === undefined) assert.equal(recall!.get(key), undefined, `${key}: no recall without true cases`);
      else close(recall!.get(key), r, `recall ${key}`);
      if (p !== undefined && r !== undefined)
        close(f1!.get(key), p + r === 0 ? 0 : (2 * p * r) / (p + r), `F1 ${key}`);
    }
    assert.deepEqual(
      [...recall!.keys()].sort(),
      [...expected]
        .filter(([, c]) => c.tp + c.fn > 0)
        .map(([k]) => k)
        .sort(),
      'recall for exactly the classes with true cases',
    );

    // The view holds exactly the pairs.
    const { rows: joined } = await pool.query(
      `SELECT id, true_label, predicted_label, model_name, model_version FROM ${runId}.pattern_feedback_joined`,
    );
    assert.deepEqual(
      joined
        .map((r) => `${r.id} ${r.true_label} ${r.predicted_label} ${r.model_name} ${r.model_version}`)
        .sort(),
      pairs.map((p) => `${p.id} ${p.truth} ${p.predicted} ${p.model} ${p.version}`).sort(),
    );
    console.log(
      `# feedback: ${pairs.length} pairs, ${pairs.filter((p) => p.truth !== p.predicted).length} disagreeing, ` +
        `${expected.size} (model, version, class) gauges checked`,
    );
  });
});
