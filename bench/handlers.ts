/**
 * Per-record CPU cost of each stage's handler alone (no Kafka): the ingestor's JSON path,
 * the tagger with the real models (then again with a shadow candidate on every source), the router. Uses the real registry for schema ids.
 *   node bench/handlers.ts   (needs `make up`)
 */

import { deploymentChange, readModelControlState } from '@patternflow/control';
import { generateEvents } from '@patternflow/generators';
import { stack } from '@patternflow/harness';
import {
  createKafka,
  type InboundRecord,
  openTransactionalWriter,
  type StageHandler,
} from '@patternflow/kafka';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import { topicNames, valueSubject } from '@patternflow/records';
import type { StageConfig, StageService } from '@patternflow/service';
import { tagger } from '../services/inference-tagger/src/service.ts';
import { ingestor } from '../services/ingestor/src/service.ts';
import { router } from '../services/priority-router/src/service.ts';

const RECORDS = 6000;
const CHUNK = 500;
const namespace = `bench-handlers-${process.pid}`;
const topics = topicNames(namespace);
const env = {
  PF_TOPIC_NAMESPACE: namespace,
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_MAX_VALUE_BYTES: String(1 << 20),
};

const benchLogger = createLogger({ service: 'bench', level: 'warn' });
const kafka = createKafka({ brokers: stack.brokers, clientId: namespace, logger: benchLogger });

/**
 * The stage's handler exactly as the service builds it (real registry, models, policy), fed
 * without Kafka. (The router's build reads the policy in force from its control topic.)
 */
async function handlerOf<C extends StageConfig>(service: StageService<C>) {
  const config = service.loadConfig(env);
  const deps = {
    logger: createLogger({ service: service.stage, level: 'warn' }),
    metrics: createStageMetrics(service.stage),
    kafka,
  };
  return service.build(config, deps);
}

/** Runs the handler over all records (in chunks) `rounds` times; returns µs per record of the best round. */
async function measure(name: string, handler: StageHandler, records: InboundRecord[], rounds = 6) {
  let best = Number.POSITIVE_INFINITY;
  let outputs: Buffer[] = [];
  for (let round = 0; round < rounds; round++) {
    const produced: Buffer[] = [];
    const started = process.hrtime.bigint();
    for (let i = 0; i < records.length; i += CHUNK) {
      const result = await handler(records.slice(i, i + CHUNK));
      for (const message of result.messages) produced.push(message.value);
    }
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1000 / records.length);
    outputs = produced;
  }
  console.log(
    `${name.padEnd(16)} ${best.toFixed(1).padStart(6)} µs/record (best of ${rounds} rounds of ${records.length})`,
  );
  return outputs;
}

const asInbound = (values: Buffer[], topicOf: (i: number) => string): InboundRecord[] =>
  values.map((value, i) => ({
    topic: topicOf(i),
    partition: 0,
    offset: String(i),
    timestamp: Date.now(),
    key: null,
    value,
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  }));

const events = [...generateEvents({ seed: 11, count: RECORDS })];
const ingestorParts = await handlerOf(ingestor);
const normalized = await measure(
  'ingestor (JSON)',
  ingestorParts.handler,
  asInbound(
    events.map(({ event }) => Buffer.from(JSON.stringify(event))),
    (i) => topics.ingest(events[i]!.source),
  ),
);
const taggerParts = await handlerOf(tagger);
const tagged = await measure(
  'inference-tagger',
  taggerParts.handler,
  asInbound(normalized, () => topics.normalized),
);
// The same tagger with a shadow candidate on every source (one more session.run per source
// and micro-batch): the candidate is the serving version itself, so the extra run costs what
// a candidate of the same model family costs.
const deployments = await readModelControlState({
  kafka,
  topics,
  groupId: `${namespace}.read`,
  logger: benchLogger,
});
const writer = openTransactionalWriter({ kafka, transactionalId: `${namespace}.bench` });
const shadowIds = new Map<string, string>();
for (const [source, current] of deployments.deployments) {
  const change = deploymentChange({
    topics,
    source,
    serving: current.serving,
    candidate: { ...current.serving, mode: 'shadow' },
    previous: current,
    action: 'model.shadow',
    who: 'bench',
    reason: 'bench: the cost of shadow mode',
  });
  shadowIds.set(source, change.deployment.id);
  await writer.write(change.messages);
}
await writer.close();
for (const deadline = Date.now() + 30_000; ; ) {
  const acks = (
    await readModelControlState({
      kafka,
      topics,
      groupId: `${namespace}.read.${Date.now()}`,
      logger: benchLogger,
    })
  ).acks;
  const inForce = [...shadowIds].every(([source, id]) =>
    [...acks.values()].some((a) => a.sources[source]?.id === id && a.sources[source]?.status === 'in-force'),
  );
  if (inForce) break;
  if (Date.now() > deadline) throw new Error('the tagger did not take up the shadow deployments within 30 s');
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const shadowTagged = await measure(
  'tagger + shadow',
  taggerParts.handler,
  asInbound(normalized, () => topics.normalized),
);
// Proof that the candidate ran: every shadowed record carries its label and model (more bytes).
const bytes = (values: Buffer[]) => values.reduce((sum, v) => sum + v.length, 0);
if (shadowTagged.length !== tagged.length || bytes(shadowTagged) <= bytes(tagged)) {
  throw new Error('the shadow run did not record the candidate beside the serving label');
}
console.log(
  `${''.padEnd(16)} +${((bytes(shadowTagged) - bytes(tagged)) / tagged.length).toFixed(0)} bytes/record (inference.shadow)`,
);
const routerParts = await handlerOf(router);
await measure(
  'priority-router',
  routerParts.handler,
  asInbound(tagged, () => topics.tagged),
);
await taggerParts.close?.();
await routerParts.close?.();
// The router and the tagger created this run's control topics: remove them.
const admin = kafka.admin();
await admin.connect();
await admin
  .deleteTopics({ topics: [topics.controlPolicy, topics.controlModels, topics.audit] })
  .catch(() => {});
await admin.disconnect();

// The subjects this run registered are its own: remove them (soft, then permanent).
const subjects = [
  ...routerParts.outputTopics,
  ...ingestorParts.outputTopics,
  ...taggerParts.outputTopics,
  ...ingestorParts.inputTopics,
].map(valueSubject);
for (const subject of subjects) {
  const url = `${stack.registryUrl}/subjects/${encodeURIComponent(subject)}`;
  await fetch(url, { method: 'DELETE' }).catch(() => {});
  await fetch(`${url}?permanent=true`, { method: 'DELETE' }).catch(() => {});
}
