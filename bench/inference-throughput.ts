/**
 * Limit (c): onnxruntime-node throughput of the tagger's models at the tagger's batch size
 * (PF_INFERENCE_MAX_BATCH default 512) and thread count (PF_INFERENCE_THREADS default 1),
 * through ModelRuntime.predict: one session.run per batch plus decoding. Feature rows come
 * from extractFeatures(toNormalizedPattern(...)) over generated events and are made before
 * the clock starts, so feature extraction is not counted.
 */
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import {
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  loadModelRuntime,
  readPublicKey,
} from '@patternflow/models';
import { extractFeatures } from '@patternflow/sources';
import { round } from './system.ts';

export interface InferenceResult {
  batch: number;
  intraOpThreads: number;
  secondsPerModel: number;
  perModel: { model: string; source: string; recordsPerSec: number; msPerBatch: number }[];
  /** Records/s for an equal mix of the sources, one model after the other: n / Σ(1/rate). */
  equalMixRecordsPerSec: number;
  units: { recordsPerSec: 'records/s (one process)'; msPerBatch: 'ms' };
}

export async function measureInference(options: {
  batch?: number;
  intraOpThreads?: number;
  secondsPerModel: number;
}): Promise<InferenceResult> {
  const batch = options.batch ?? 512;
  const threads = options.intraOpThreads ?? 1;
  const runtime = await loadModelRuntime({
    store: DEFAULT_MODEL_STORE,
    publicKey: readPublicKey(DEV_PUBLIC_KEY_PATH),
    intraOpThreads: threads,
  });
  const perModel: InferenceResult['perModel'] = [];
  try {
    for (const info of runtime.models) {
      const rows = [...generateEvents({ seed: 4242, count: batch * 8, sources: [info.source] })].map(
        ({ source, event }) => extractFeatures(toNormalizedPattern(source, event)).values,
      );
      const batches = Array.from({ length: 8 }, (_, i) => rows.slice(i * batch, (i + 1) * batch));
      await runtime.predict(info.source, batches[0]!); // warm-up
      let runs = 0;
      const budgetNs = BigInt(Math.round(options.secondsPerModel * 1e9));
      const started = process.hrtime.bigint();
      while (process.hrtime.bigint() - started < budgetNs) {
        const outcomes = await runtime.predict(info.source, batches[runs % batches.length]!);
        if (!outcomes[0]?.ok) throw new Error(`${info.name}: inference failed`);
        runs += 1;
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      perModel.push({
        model: `${info.name}@${info.version}`,
        source: info.source,
        recordsPerSec: round((runs * batch) / seconds),
        msPerBatch: round((seconds / runs) * 1000, 3),
      });
    }
  } finally {
    await runtime.close();
  }
  const inverse = perModel.reduce((sum, model) => sum + 1 / model.recordsPerSec, 0);
  return {
    batch,
    intraOpThreads: threads,
    secondsPerModel: options.secondsPerModel,
    perModel,
    equalMixRecordsPerSec: round(perModel.length / inverse),
    units: { recordsPerSec: 'records/s (one process)', msPerBatch: 'ms' },
  };
}
