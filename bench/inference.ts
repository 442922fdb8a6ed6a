/**
 * Raw model-runtime throughput (records/s) per model at batch sizes 1, 64 and 512, through
 * ModelRuntime.predict (feature validation + one session.run per batch + decoding).
 * Feature extraction is not included. Writes bench/results/inference.json.
 *
 *   node bench/inference.ts [--seconds 3] [--threads 1]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import {
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  loadModelRuntime,
  readPublicKey,
} from '@patternflow/models';
import { extractFeatures } from '@patternflow/sources';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback;
const seconds = option('--seconds', 3);
const threads = option('--threads', 1);
const BATCH_SIZES = [1, 64, 512];

async function main(): Promise<void> {
  const runtime = await loadModelRuntime({
    store: DEFAULT_MODEL_STORE,
    publicKey: readPublicKey(DEV_PUBLIC_KEY_PATH),
    intraOpThreads: threads,
  });
  const results: { model: string; source: string; batch: number; records_per_s: number; runs: number }[] = [];
  try {
    for (const info of runtime.models) {
      const rows = [...generateEvents({ seed: 777, count: 4096, sources: [info.source] })].map(
        (e) => extractFeatures(toNormalizedPattern(e.source, e.event)).values,
      );
      for (const batch of BATCH_SIZES) {
        // warm-up, then a timed loop over distinct rows
        await runtime.predict(info.source, rows.slice(0, batch));
        let done = 0;
        let runs = 0;
        let offset = 0;
        const started = process.hrtime.bigint();
        const budget = BigInt(Math.round(seconds * 1e9));
        while (process.hrtime.bigint() - started < budget) {
          if (offset + batch > rows.length) offset = 0;
          const outcomes = await runtime.predict(info.source, rows.slice(offset, offset + batch));
          if (!outcomes[0]?.ok) throw new Error(`${info.name}: inference failed`);
          offset += batch;
          done += batch;
          runs++;
        }
        const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
        const rate = done / elapsed;
        results.push({ model: info.name, source: info.source, batch, records_per_s: Math.round(rate), runs });
        console.log(
          `${info.name.padEnd(20)} batch ${String(batch).padStart(3)}: ${Math.round(rate).toLocaleString('en-US').padStart(10)} records/s  (${runs} runs, ${((elapsed / runs) * 1000).toFixed(3)} ms/run)`,
        );
      }
    }
  } finally {
    await runtime.close();
  }
  const outDir = fileURLToPath(new URL('./results', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    `${outDir}/inference.json`,
    `${JSON.stringify({ intra_op_threads: threads, seconds_per_case: seconds, node: process.version, results }, null, 2)}\n`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
