/**
 * The main job (`make demo`): the four services on the local stack, generated traffic
 * from the three sources (JSON and Avro), live progress per stage, and a summary of what
 * reached the sink per lane and label.
 *
 *   PF_DEMO_EVENTS (default 20000)   events to send
 *   PF_DEMO_RATE   (default 2000)    offered events/s
 *   PF_DEMO_SEED   (default: time)   generator seed
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { integer, loadConfig } from '@patternflow/config';
import { metricSum, produceGeneratedEvents, SERVICE_NAMES, stack, startServices } from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import pg from 'pg';

const config = loadConfig({
  events: integer('PF_DEMO_EVENTS', { default: 20_000, min: 1 }),
  rate: integer('PF_DEMO_RATE', { default: 2_000, min: 1 }),
  seed: integer('PF_DEMO_SEED', { default: Date.now() % 2_147_483_647, min: 0 }),
});
const root = new URL('..', import.meta.url).pathname;
const logDir = join(root, '.stack', 'logs', 'demo');
const coldDir = join(root, '.data', 'cold');
mkdirSync(coldDir, { recursive: true });
const logger = createLogger({ service: 'demo', level: 'warn' });
const topics = topicNames();

const fleet = startServices({
  logDir,
  basePort: 9464,
  env: {
    PF_KAFKA_BROKERS: stack.brokers.join(','),
    PF_REGISTRY_URL: stack.registryUrl,
    PF_PG_URL: stack.pgUrl,
    PF_COLD_DIR: coldDir,
  },
});

async function progressLine(previous: Map<string, number>, seconds: number): Promise<string> {
  const parts: string[] = [];
  for (const name of SERVICE_NAMES) {
    const text = await fleet.metrics(name).catch(() => '');
    const out = metricSum(text, name === 'sink' ? 'pf_sink_rows_total' : 'pf_records_out_total');
    const rate = (out - (previous.get(name) ?? 0)) / seconds;
    previous.set(name, out);
    const lag = metricSum(text, 'pf_consumer_lag');
    const paused = metricSum(text, 'pf_consumer_paused') > 0 ? ' PAUSED' : '';
    const dlq = metricSum(text, 'pf_dlq_records_total');
    parts.push(`${name} ${Math.round(rate)}/s lag ${lag}${dlq ? ` dlq ${dlq}` : ''}${paused}`);
  }
  return parts.join(' | ');
}

async function main(): Promise<void> {
  console.log(`demo: starting the four services (logs in ${logDir})`);
  await fleet.waitReady();
  console.log(`demo: sending ${config.events} events at ${config.rate}/s (seed ${config.seed}, 40% Avro)`);
  const kafka = createKafka({
    brokers: stack.brokers,
    clientId: 'demo-loadgen',
    logger,
    clientLogLevel: 'error',
  });
  const pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2 });
  const previous = new Map<string, number>();
  const started = Date.now();
  const ticker = setInterval(() => {
    progressLine(previous, 2).then((line) => console.log(`demo: ${line}`));
  }, 2000);
  const sent = await produceGeneratedEvents({
    kafka,
    registryUrl: stack.registryUrl,
    topics,
    seed: config.seed,
    count: config.events,
    avroShare: 0.4,
    ratePerSecond: config.rate,
  });
  let stored = 0;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM patterns WHERE id = ANY($1::text[])', [
      sent.ids,
    ]);
    stored = rows[0].n;
    if (stored >= sent.ids.length) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  clearInterval(ticker);
  const seconds = (Date.now() - started) / 1000;
  const { rows } = await pool.query(
    `SELECT lane, label, count(*)::int AS n, round(avg(score)::numeric, 3) AS avg_score,
            round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM written_at - ingest_time)))::numeric * 1000) AS p50_ms
       FROM patterns WHERE id = ANY($1::text[]) GROUP BY lane, label ORDER BY lane, n DESC`,
    [sent.ids],
  );
  console.log(`\ndemo: ${stored} of ${sent.ids.length} events reached PostgreSQL in ${seconds.toFixed(1)} s`);
  console.log('lane       label               rows   avg score  p50 ingest→sink ms');
  for (const row of rows) {
    console.log(
      `${row.lane.padEnd(10)} ${row.label.padEnd(18)} ${String(row.n).padStart(6)}   ${String(row.avg_score).padStart(8)}  ${String(row.p50_ms).padStart(8)}`,
    );
  }
  const dlq = metricSum(await fleet.metrics('ingestor'), 'pf_dlq_records_total');
  console.log(`dead-lettered by the ingestor: ${dlq}; bulk-lane cold files under ${coldDir}`);
  await pool.end();
  await fleet.stop();
  if (stored !== sent.ids.length) {
    console.error('demo: not every event reached the sink; see the service logs');
    process.exit(1);
  }
}

main().catch(async (error) => {
  console.error('demo failed:', error);
  await fleet.stop();
  process.exit(1);
});
