import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Registry } from 'prom-client';

/** The metrics every stage exports, labelled with its stage name (see docs/operations.md). */
export interface StageMetrics {
  readonly registry: Registry;
  readonly recordsIn: Counter<'stage' | 'topic'>;
  readonly recordsOut: Counter<'stage' | 'topic'>;
  readonly deadLettered: Counter<'stage' | 'reason'>;
  readonly processingSeconds: Histogram<'stage'>;
  readonly batchSize: Histogram<'stage'>;
  readonly paused: Gauge<'stage'>;
  readonly pauseReasons: Gauge<'stage' | 'reason'>;
  readonly consumerLag: Gauge<'stage' | 'topic' | 'partition'>;
  readonly retries: Counter<'stage' | 'reason'>;
  readonly inputTopics: Gauge<'stage' | 'topic'>;
  readonly unreadableBatch: Gauge<'stage' | 'topic' | 'partition' | 'from' | 'to'>;
}

export function createStageMetrics(stage: string, registry = new Registry()): StageMetrics {
  registry.setDefaultLabels({ stage });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const metrics: StageMetrics = {
    registry,
    recordsIn: new Counter({
      name: 'pf_records_in_total',
      help: 'Records consumed by the stage',
      labelNames: ['stage', 'topic'],
      registers,
    }),
    recordsOut: new Counter({
      name: 'pf_records_out_total',
      help: 'Records produced (acknowledged) or written by the stage',
      labelNames: ['stage', 'topic'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'pf_dlq_records_total',
      help: 'Records sent to the DLQ, by error code',
      labelNames: ['stage', 'reason'],
      registers,
    }),
    processingSeconds: new Histogram({
      name: 'pf_processing_seconds',
      help: 'Time to process one batch, from handing it to the handler to the output acknowledgement',
      labelNames: ['stage'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    batchSize: new Histogram({
      name: 'pf_batch_size',
      help: 'Records per processed batch',
      labelNames: ['stage'],
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
      registers,
    }),
    paused: new Gauge({
      name: 'pf_consumer_paused',
      help: '1 while the stage has paused its consumer (backpressure), else 0',
      labelNames: ['stage'],
      registers,
    }),
    pauseReasons: new Gauge({
      name: 'pf_consumer_pause_reason',
      help: 'Why the consumer is paused: per reason (downstream-backlog, or the error code of a chunk being retried) how many partitions or monitors hold it paused; 0 once lifted',
      labelNames: ['stage', 'reason'],
      registers,
    }),
    consumerLag: new Gauge({
      name: 'pf_consumer_lag',
      help: 'Records between the last one the stage handed over and the partition end, as of the latest fetch',
      labelNames: ['stage', 'topic', 'partition'],
      registers,
    }),
    retries: new Counter({
      name: 'pf_retries_total',
      help: 'Retried deliveries or writes, by error code',
      labelNames: ['stage', 'reason'],
      registers,
    }),
    inputTopics: new Gauge({
      name: 'pf_input_topics',
      help: '1 for each topic the stage consumes (ingest topics created while it runs appear within PF_TOPIC_REFRESH_MS)',
      labelNames: ['stage', 'topic'],
      registers,
    }),
    unreadableBatch: new Gauge({
      name: 'pf_unreadable_batch',
      help: '1 while the stage stands in front of offsets [from, to) its client cannot read; skip them with scripts/skip-batch.ts',
      labelNames: ['stage', 'topic', 'partition', 'from', 'to'],
      registers,
    }),
  };
  // A stage that never paused reports 0 rather than no series: the dashboard's paused
  // panels and `max by (stage) (pf_consumer_paused)` then show every stage, not only those
  // that paused once since they started.
  metrics.paused.set(0);
  return metrics;
}
