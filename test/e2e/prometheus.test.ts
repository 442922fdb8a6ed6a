/**
 * A real Prometheus (Debian's package, tools/harness startPrometheus) scraping the four
 * services on the real stack, with the generated configuration `make run PROMETHEUS=1` uses:
 *
 * - every metric an alert rule or a dashboard query reads has real scraped series, and every
 *   one of those expressions evaluates (dashboard queries to at least one series);
 * - alerts really fire when their condition is produced: PostgreSQL refusing the sink's
 *   writes (a trigger in this test's own schema raises a serialization failure), the sink
 *   then writing slowly while its backlog grows, and the sink stopped.
 *
 * The rules are ops/prometheus/alerts.yml loaded from a copy in which only the `for:`
 * durations are shortened (to SHORT_FOR; the real ones are minutes): every expression is the
 * real one, which the test asserts before it starts Prometheus.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorCodes } from '@patternflow/errors';
import {
  type ActiveAlert,
  deleteNamespace,
  findPrometheus,
  type LocalPrometheus,
  metricNamesOf,
  type PrometheusApi,
  produceGeneratedEvents,
  prometheusApi,
  reservePorts,
  type ScrapeTarget,
  type ServiceFleet,
  stack,
  startPrometheus,
  startServices,
} from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import { parse, stringify } from 'yaml';

const ROOT = new URL('../../', import.meta.url).pathname;
const ALERTS_FILE = join(ROOT, 'ops', 'prometheus', 'alerts.yml');
const ALERTS_TEST_FILE = join(ROOT, 'ops', 'prometheus', 'alerts.test.yml');
const DASHBOARD_FILE = join(ROOT, 'ops', 'grafana', 'dashboards', 'patternflow.json');
/** Every `for:` of the copied rules: long enough to need two evaluations, short enough for CI. */
const SHORT_FOR_SECONDS = 2;
const SHORT_FOR = `${SHORT_FOR_SECONDS}s`;
const INTERVAL = '1s';
/**
 * `$__rate_interval` as Grafana computes it for the real 15 s scrape interval (4 × 15 s);
 * with this test's 1 s scrapes the window also spans everything the test produced.
 */
const RATE_INTERVAL = '1m';
/**
 * Metrics whose series exist only while their event lasts, and which this test does not
 * produce. For them the test requires that the services export the family (Prometheus saw
 * its # TYPE line in the scrape); test/integration/unreadable-batch.test.ts sets the gauge.
 */
const EVENT_ONLY_METRICS: ReadonlyMap<string, string> = new Map([
  ['pf_unreadable_batch', 'set only while a stage stands in front of a batch its client cannot read'],
]);

let missingBinary: string | undefined;
try {
  findPrometheus();
} catch (error) {
  missingBinary = (error as Error).message;
  // CI installs the package (.ci/run): there, a missing binary is a failure, not a skip.
  if (process.env.CI) throw error;
  console.log(`# prometheus.test.ts skipped: ${missingBinary}`);
}

const runId = `prom${randomBytes(4).toString('hex')}`;
const topics = topicNames(runId);
const schema = runId;
const logDir = join(ROOT, '.stack', 'logs', runId);
// The four services on the first ports of the block, Prometheus on the fifth.
const basePort = await reservePorts(5);
const prometheusPort = basePort + 4;
const SINK_PORT = basePort + 3;
const STAGES = ['inference-tagger', 'ingestor', 'priority-router', 'sink'];

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}
interface DashboardPanel {
  title: string;
  targets?: { expr?: string }[];
  panels?: DashboardPanel[];
}
interface Dashboard {
  panels: DashboardPanel[];
  templating: {
    list: { name: string; query: string | { query: string }; includeAll?: boolean; allValue?: string }[];
  };
}

const realRules = (parse(readFileSync(ALERTS_FILE, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

/** The copy of alerts.yml with only `for:` shortened; its expressions are checked against the real ones. */
function shortenedRules(file: string): void {
  const copy = parse(readFileSync(ALERTS_FILE, 'utf8')) as RuleFile;
  for (const rule of copy.groups.flatMap((g) => g.rules)) if (rule.for) rule.for = SHORT_FOR;
  const rules = copy.groups.flatMap((g) => g.rules);
  assert.deepEqual(
    rules.map(({ alert, expr, labels }) => ({ alert, expr, labels })),
    realRules.map(({ alert, expr, labels }) => ({ alert, expr, labels })),
    'the copy keeps every rule, expression and label',
  );
  writeFileSync(file, stringify(copy));
}

/** Every panel query of the dashboard, its variables replaced as Grafana would with "All" selected. */
function dashboardQueries(): { source: string; expr: string }[] {
  const values = new Map<string, string>([
    ['__rate_interval', RATE_INTERVAL],
    ['__interval', INTERVAL],
    ['__range', RATE_INTERVAL],
  ]);
  for (const variable of dashboard.templating.list) {
    assert.ok(variable.includeAll && variable.allValue, `variable ${variable.name} has an "All" value`);
    values.set(variable.name, variable.allValue);
  }
  const substitute = (expr: string) =>
    expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
      const value = values.get((braced ?? bare)!);
      assert.ok(value !== undefined, `no value for dashboard variable ${whole} in ${expr}`);
      return value;
    });
  const panels = (list: DashboardPanel[]): DashboardPanel[] =>
    list.flatMap((panel) => [panel, ...panels(panel.panels ?? [])]);
  return panels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? [])
      .filter((target) => target.expr)
      .map((target, i) => ({ source: `panel "${panel.title}" #${i}`, expr: substitute(target.expr!) })),
  );
}

let kafka: Kafka;
let pool: pg.Pool;
let fleet: ServiceFleet;
let prometheus: LocalPrometheus;
let api: PrometheusApi;

/** Waits until `alertname` fires with labels that `match`; a timeout says what Prometheus saw. */
async function waitForFiring(
  alertname: string,
  match: (labels: Record<string, string>) => boolean,
  timeoutMs: number,
): Promise<ActiveAlert> {
  const deadline = Date.now() + timeoutMs;
  let alerts: ActiveAlert[] = [];
  while (Date.now() < deadline) {
    alerts = await api.alerts();
    const firing = alerts.find(
      (alert) => alert.state === 'firing' && alert.labels.alertname === alertname && match(alert.labels),
    );
    if (firing) return firing;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const rule = (await api.rules()).find((r) => r.name === alertname);
  assert.fail(
    `${alertname} did not fire within ${timeoutMs} ms; rule health ${rule?.health} ${rule?.lastError ?? ''}; ` +
      `active alerts: ${JSON.stringify(alerts.map((a) => ({ state: a.state, labels: a.labels })))}`,
  );
}

/** The pipeline's scrape targets, once `done` holds for them (or the timeout passed). */
async function waitForTargets(done: (targets: ScrapeTarget[]) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const targets = (await api.targets()).filter((t) => t.labels.job === 'patternflow');
    if (done(targets) || Date.now() > deadline) return targets;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * The sink's table in this test's own schema gets a row trigger whose function the test
 * swaps: refuse every write with a serialization failure (SQLSTATE 40001, which the sink
 * retries), or accept each row after a pause.
 */
async function gateSinkWrites(mode: 'refuse' | 'slow'): Promise<void> {
  const body =
    mode === 'refuse'
      ? `RAISE EXCEPTION USING ERRCODE = 'serialization_failure', MESSAGE = 'refused by test/e2e/prometheus.test.ts'`
      : 'PERFORM pg_sleep(0.02); RETURN NEW';
  await pool.query(
    `CREATE OR REPLACE FUNCTION ${schema}.e2e_gate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body}; END $$`,
  );
  await pool.query(`DROP TRIGGER IF EXISTS e2e_gate ON ${schema}.patterns`);
  await pool.query(
    `CREATE TRIGGER e2e_gate BEFORE INSERT ON ${schema}.patterns FOR EACH ROW EXECUTE FUNCTION ${schema}.e2e_gate()`,
  );
}

async function waitForRows(ids: readonly string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    const { rows } = await pool
      .query(`SELECT count(*)::int AS n FROM ${schema}.patterns WHERE id = ANY($1::text[])`, [ids])
      .catch(() => ({ rows: [{ n: 0 }] }));
    count = rows[0].n;
    if (count >= ids.length) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return count;
}

const load = (seed: number, count: number) =>
  produceGeneratedEvents({ kafka, registryUrl: stack.registryUrl, topics, seed, count, avroShare: 0.3 });

describe('Prometheus on the running pipeline', { skip: missingBinary, timeout: 240_000 }, () => {
  before(async () => {
    const logger = createLogger({ service: 'prometheus-e2e', level: 'error' });
    kafka = createKafka({ brokers: stack.brokers, clientId: runId, logger, clientLogLevel: 'error' });
    pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2 });
    fleet = startServices({
      logDir,
      basePort,
      env: {
        PF_KAFKA_BROKERS: stack.brokers.join(','),
        PF_REGISTRY_URL: stack.registryUrl,
        PF_PG_URL: stack.pgUrl,
        PF_PG_SCHEMA: schema,
        PF_COLD_DIR: join(logDir, 'cold'),
        PF_TOPIC_NAMESPACE: runId,
        PF_LOG_LEVEL: 'info',
        PF_FEEDBACK_REFRESH_MS: '500',
      },
    });
    const rulesFile = join(logDir, 'alerts-short-for.yml');
    shortenedRules(rulesFile);
    prometheus = await startPrometheus({
      dir: join(logDir, 'prometheus'),
      port: prometheusPort,
      servicePorts: Object.fromEntries([...fleet.processes.values()].map((s) => [s.name, s.httpPort])),
      ruleFiles: [rulesFile],
      scrapeInterval: INTERVAL,
      evaluationInterval: INTERVAL,
    });
    api = prometheusApi(prometheus.url);
    await fleet.waitReady();
  });

  after(async () => {
    await fleet?.stop();
    await prometheus?.stop();
    rmSync(join(logDir, 'prometheus', 'data'), { recursive: true, force: true });
    rmSync(join(logDir, 'cold'), { recursive: true, force: true });
    if (kafka) await deleteNamespace(kafka, runId);
    await pool?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool?.end();
  });

  test('Prometheus scrapes the four services under the real job and labels, with every real rule', async () => {
    const sent = await load(11, 600);
    // A few records the ingestor must dead-letter, so that pf_dlq_records_total has series.
    const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    await producer.send({
      topic: topics.ingest('payments'),
      acks: -1,
      messages: ['{"not json', '{}', '[1,2,3]'].map((value, i) => ({ key: `bad-${i}`, value })),
    });
    await producer.disconnect();
    assert.equal(
      await waitForRows(sent.ids, 90_000),
      sent.ids.length,
      'the pipeline works before the faults',
    );
    // Ground truth for a third of the records, so that the feedback gauges have series.
    await producer.connect();
    await producer.send({
      topic: topics.feedback,
      acks: -1,
      messages: sent.ids
        .filter((_, i) => i % 3 === 0)
        .map((id, k) => ({ key: id, value: JSON.stringify({ id, label: sent.labels[k * 3]! }) })),
    });
    await producer.disconnect();

    const targets = await waitForTargets(
      (list) => list.length === 4 && list.every((t) => t.health === 'up'),
      15_000,
    );
    assert.deepEqual(targets.map((t) => [t.labels.service, t.labels.instance, t.health]).sort(), [
      ['inference-tagger', `127.0.0.1:${basePort + 1}`, 'up'],
      ['ingestor', `127.0.0.1:${basePort}`, 'up'],
      ['priority-router', `127.0.0.1:${basePort + 2}`, 'up'],
      ['sink', `127.0.0.1:${SINK_PORT}`, 'up'],
    ]);
    const rules = await api.rules();
    assert.deepEqual(
      rules.map((r) => r.name),
      realRules.map((r) => r.alert),
    );
    // Rules without `for:` (they fire at the first evaluation) stay without it.
    assert.deepEqual(
      rules.map((r) => r.duration),
      realRules.map((r) => (r.for ? SHORT_FOR_SECONDS : 0)),
      `every for: is ${SHORT_FOR}, and a rule without one has none`,
    );
  });

  test('PostgreSQL refusing the sink writes fires PatternflowSinkWriteFailures and PatternflowStagePaused', async () => {
    await gateSinkWrites('refuse');
    // Traffic continues while the sink cannot write.
    await load(12, 3000);
    const failures = await waitForFiring('PatternflowSinkWriteFailures', () => true, 45_000);
    assert.deepEqual(failures.labels, {
      alertname: 'PatternflowSinkWriteFailures',
      severity: 'critical',
      reason: ErrorCodes.SINK_UNAVAILABLE,
    });
    assert.equal(
      failures.annotations.summary,
      `the sink keeps retrying its writes (${ErrorCodes.SINK_UNAVAILABLE})`,
    );
    const paused = await waitForFiring('PatternflowStagePaused', (labels) => labels.stage === 'sink', 20_000);
    assert.deepEqual(paused.labels, {
      alertname: 'PatternflowStagePaused',
      severity: 'warning',
      stage: 'sink',
    });
  });

  test('every metric of every alert rule and dashboard query has real series, and every query evaluates', async () => {
    const scraped = await api.metricNames();
    const exported = await api.metadata();
    const family = (name: string) => name.replace(/_(?:bucket|sum|count)$/, '');
    const sources = [
      ...realRules.map((rule) => ({ source: `alert ${rule.alert}`, expr: rule.expr, dashboard: false })),
      ...dashboardQueries().map((query) => ({ ...query, dashboard: true })),
    ];
    assert.equal(sources.filter((s) => s.dashboard).length, 33, 'all 33 dashboard queries are read');
    const problems: string[] = [];
    for (const { source, expr, dashboard } of sources) {
      const names = metricNamesOf(expr);
      if (names.length === 0) problems.push(`${source}: no metric found in ${expr}`);
      for (const name of names) {
        if (scraped.has(name)) continue;
        const isExported = exported.has(name) || exported.has(family(name));
        if (isExported && EVENT_ONLY_METRICS.has(name)) continue;
        problems.push(
          `${source}: ${name} has no series in Prometheus ${isExported ? '(the services export it but never set it)' : '(no service exports it)'}`,
        );
      }
      try {
        const { resultType, result } = await api.query(expr);
        if (dashboard && (resultType !== 'vector' || (result as unknown[]).length === 0)) {
          problems.push(`${source}: ${expr} returned no series`);
        }
      } catch (error) {
        problems.push(`${source}: ${(error as Error).message}`);
      }
    }
    for (const name of EVENT_ONLY_METRICS.keys()) {
      if (!exported.has(name)) problems.push(`${name} is not exported by any service`);
    }
    // The dashboard's stage variable lists the stages from label_values(pf_records_in_total, stage).
    const stageVariable = dashboard.templating.list.find((v) => v.name === 'stage')!;
    const stageQuery =
      typeof stageVariable.query === 'string' ? stageVariable.query : stageVariable.query.query;
    const [, metric, label] = /^label_values\((\w+),\s*(\w+)\)$/.exec(stageQuery) ?? [];
    assert.ok(metric && label, `the stage variable's query: ${stageQuery}`);
    const stages = (await api.query(`count by (${label}) (${metric})`)).result as {
      metric: Record<string, string>;
    }[];
    const listed = stages.map((s) => s.metric[label]).sort();
    if (String(listed) !== String(STAGES)) problems.push(`variable stage lists ${listed}, not ${STAGES}`);
    // A stage that never paused says 0, so the paused panels show every stage.
    const paused = (await api.query('count by (stage) (pf_consumer_paused)')).result as {
      metric: Record<string, string>;
    }[];
    const pausedStages = paused.map((s) => s.metric.stage).sort();
    if (String(pausedStages) !== String(STAGES)) {
      problems.push(`pf_consumer_paused has series for ${pausedStages} only, not for every stage`);
    }
    for (const rule of await api.rules()) {
      if (rule.health !== 'ok')
        problems.push(`rule ${rule.name}: health ${rule.health} ${rule.lastError ?? ''}`);
    }
    assert.deepEqual(problems, []);
  });

  test('the promtool tests (alerts.test.yml) use real metric names, stages and reason codes', async () => {
    const scraped = await api.metricNames();
    const exported = await api.metadata();
    const codes: ReadonlySet<string> = new Set(Object.values(ErrorCodes));
    const promtool = parse(readFileSync(ALERTS_TEST_FILE, 'utf8')) as {
      tests: { name: string; input_series: { series: string }[] }[];
    };
    const problems: string[] = [];
    for (const { name, input_series } of promtool.tests) {
      for (const { series } of input_series) {
        const [, metric, matchers] = /^(\w+)\{(.*)\}$/.exec(series) ?? [];
        if (!metric) {
          problems.push(`${name}: unreadable series ${series}`);
          continue;
        }
        const labels = Object.fromEntries(
          [...matchers!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
        );
        if (!scraped.has(metric) && !exported.has(metric)) problems.push(`${name}: no metric ${metric}`);
        if (labels.stage !== undefined && !STAGES.includes(labels.stage)) {
          problems.push(`${name}: no stage ${labels.stage}`);
        }
        if (labels.reason !== undefined && !codes.has(labels.reason)) {
          problems.push(`${name}: no error code ${labels.reason}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test('a sink that writes slowly while its input grows fires PatternflowConsumerLagGrowing', async () => {
    await gateSinkWrites('slow');
    await load(13, 1500);
    const sinkTopics = ['critical', 'standard', 'bulk'].map((lane) => topics.routed(lane));
    const lag = await waitForFiring(
      'PatternflowConsumerLagGrowing',
      (labels) => labels.stage === 'sink',
      45_000,
    );
    assert.ok(sinkTopics.includes(lag.labels.topic!), `a topic the sink reads: ${lag.labels.topic}`);
    assert.deepEqual(lag.labels, {
      alertname: 'PatternflowConsumerLagGrowing',
      severity: 'warning',
      stage: 'sink',
      topic: lag.labels.topic,
    });
    assert.ok(Number(lag.value) > 1000, `lag ${lag.value} is over the threshold`);
  });

  test('a stopped sink fires PatternflowStageDown for its target', async () => {
    await fleet.kill('sink', 'SIGKILL');
    const down = await waitForFiring('PatternflowStageDown', (labels) => labels.service === 'sink', 30_000);
    assert.deepEqual(down.labels, {
      alertname: 'PatternflowStageDown',
      severity: 'critical',
      job: 'patternflow',
      instance: `127.0.0.1:${SINK_PORT}`,
      service: 'sink',
    });
    const others = (await api.alerts()).filter(
      (alert) => alert.labels.alertname === 'PatternflowStageDown' && alert.labels.service !== 'sink',
    );
    assert.deepEqual(others, [], 'the running stages are not reported down');
  });
});
