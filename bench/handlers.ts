/**
 * Per-record CPU cost of each stage's handler alone (no Kafka): the ingestor's JSON path,
 * the tagger with the real models, the router. Uses the real registry for schema ids.
 *   node bench/handlers.ts   (needs `make up`)
 */
import type { InboundRecord, StageHandler } from '@patternflow/kafka';
import { loadModelRuntime, type PredictionOutcome } from '@patternflow/models';
import { loadPolicy } from '@patternflow/policy';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { extractFeatures, generateEvents, getSourceAdapter, sourceNames } from '@patternflow/sources';
import {
  createTagHandler,
  type FeatureRow,
  featureViewSchema,
} from '../services/inference-tagger/src/handler.ts';
import { predictByModel } from '../services/inference-tagger/src/inference.ts';
import { createMicroBatcher } from '../services/inference-tagger/src/micro-batcher.ts';
import { createIngestHandler } from '../services/ingestor/src/handler.ts';
import { createIngestDecoder } from '../services/ingestor/src/ingest.ts';
import { createRouteHandler, type LaneOutput } from '../services/priority-router/src/handler.ts';
import { createRouteDecider, routingViewSchema } from '../services/priority-router/src/route.ts';
import { stack } from '../test/helpers/stack.ts';

const RECORDS = 6000;
const CHUNK = 500;
const topics = topicNames(`bench-handlers-${process.pid}`);
const codec = createSchemaCodec({ url: stack.registryUrl });
const schemas = {
  normalized: loadSchema('normalized'),
  tagged: loadSchema('tagged'),
  routed: loadSchema('routed'),
};

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
const ingestInput = asInbound(
  events.map(({ event }) => Buffer.from(JSON.stringify(event))),
  (i) => topics.ingest(events[i]!.source),
);
const adapters = new Map(sourceNames().map((source) => [source, getSourceAdapter(source)!]));
const normalized = await measure(
  'ingestor (JSON)',
  createIngestHandler({
    decode: createIngestDecoder({ adapters, codec, maxValueBytes: 1 << 20, topics }),
    encoder: await codec.encoderFor(valueSubject(topics.normalized), schemas.normalized),
    normalizedTopic: topics.normalized,
  }),
  ingestInput,
);

const runtime = await loadModelRuntime({ modelsDir: new URL('../models', import.meta.url).pathname });
const tagged = await measure(
  'inference-tagger',
  createTagHandler({
    decoder: codec.decoderFor(featureViewSchema(schemas.normalized)),
    fullDecoder: codec.decoderFor(schemas.normalized),
    encoder: await codec.encoderFor(valueSubject(topics.tagged), schemas.tagged),
    extender: await codec.extenderFor(
      valueSubject(topics.tagged),
      schemas.tagged,
      valueSubject(topics.normalized),
      schemas.normalized,
    ),
    taggedTopic: topics.tagged,
    extractFeatures,
    hasModel: (key) => runtime.hasModel(key),
    inference: createMicroBatcher<FeatureRow, PredictionOutcome>({
      maxSize: 512,
      lingerMs: 0,
      run: predictByModel(runtime),
    }),
  }),
  asInbound(normalized, () => topics.normalized),
);

const policy = loadPolicy(new URL('../policies/routing.yaml', import.meta.url).pathname);
const lanes = new Map<string, LaneOutput>();
for (const lane of policy.lanes) {
  const subject = valueSubject(topics.routed(lane));
  lanes.set(lane, {
    topic: topics.routed(lane),
    encoder: await codec.encoderFor(subject, schemas.routed),
    extender: await codec.extenderFor(subject, schemas.routed, valueSubject(topics.tagged), schemas.tagged),
  });
}
await measure(
  'priority-router',
  createRouteHandler({
    decoder: codec.decoderFor(routingViewSchema(schemas.tagged)),
    fullDecoder: codec.decoderFor(schemas.tagged),
    lanes,
    decide: createRouteDecider({ policy }),
  }),
  asInbound(tagged, () => topics.tagged),
);
await runtime.close();

// The subjects this run registered are its own: remove them (soft, then permanent).
for (const topic of [topics.normalized, topics.tagged, ...policy.lanes.map((lane) => topics.routed(lane))]) {
  const url = `${stack.registryUrl}/subjects/${encodeURIComponent(valueSubject(topic))}`;
  await fetch(url, { method: 'DELETE' }).catch(() => {});
  await fetch(`${url}?permanent=true`, { method: 'DELETE' }).catch(() => {});
}
