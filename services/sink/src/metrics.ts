import { Counter, Histogram, type Registry } from 'prom-client';

/** The sink's own metrics, besides the ones every stage exports. */
export interface SinkMetrics {
  rows: Counter<'lane' | 'result'>;
  latency: Histogram<'lane'>;
}

export function createSinkMetrics(registry: Registry): SinkMetrics {
  return {
    rows: new Counter({
      name: 'pf_sink_rows_total',
      help: 'Records written by the sink: inserted, or duplicate (already stored, absorbed)',
      labelNames: ['lane', 'result'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'pf_ingest_to_sink_seconds',
      help: 'From the ingest record timestamp to the durable write in PostgreSQL',
      labelNames: ['lane'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}
