/**
 * CPU profile of the four services at saturation:
 *
 *   node bench/profile.ts [--seconds 30] [--events 150000]
 *
 * Pre-fills the ingest topics of a fresh namespace, runs each service as
 * `node --cpu-prof --cpu-prof-dir=<dir>/<service> services/<service>/src/main.ts`
 * (Node 20 refuses --cpu-prof in NODE_OPTIONS, so the harness's startServices cannot pass
 * it), stops them with SIGTERM after the measured window, and prints the top self-time
 * functions of each service over that window only (bench/profile-summary.ts), leaving out
 * startup and warm-up. Writes bench/results/profile-<timestamp>.json; the .cpuprofile
 * files stay under .stack/profiles/<run>/ for Chrome DevTools or speedscope.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricSum, reservePorts, SERVICE_NAMES, type ServiceName } from '@patternflow/harness';
import { newRunId, PipelineRun } from './pipeline.ts';
import { formatSummary, type ProfileSummary, summarizeProfile } from './profile-summary.ts';
import { cpuDelta, cpuSnapshot, kafkaBrokerPid, machineFacts, ROOT, round } from './system.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback;
const seconds = option('--seconds', 30);
const events = option('--events', 150_000);
const warmupSec = 5;
const log = (message: string) => process.stderr.write(`profile: ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Profiled {
  name: ServiceName;
  port: number;
  child: ChildProcess;
  spawnedAt: number;
  dir: string;
}

async function main(): Promise<void> {
  const stack = {
    brokers: (process.env.PF_KAFKA_BROKERS ?? '127.0.0.1:19092').split(','),
    registryUrl: process.env.PF_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7',
    pgUrl: process.env.PF_PG_URL ?? 'postgres://patternflow:patternflow@127.0.0.1:15432/patternflow',
  };
  const run = new PipelineRun(stack, 'p', newRunId());
  const profileDir = join(ROOT, '.stack', 'profiles', run.namespace);
  const services: Profiled[] = [];
  const stopAll = async () => {
    await Promise.all(
      services.map(
        (service) =>
          new Promise<void>((resolve) => {
            if (service.child.exitCode !== null || service.child.signalCode !== null) return resolve();
            service.child.once('exit', () => resolve());
            service.child.kill('SIGTERM');
          }),
      ),
    );
  };
  process.once('SIGINT', () => {
    stopAll()
      .then(() => run.cleanup())
      .finally(() => process.exit(130));
  });
  try {
    await run.prefill(events, 909);
    const basePort = await reservePorts(SERVICE_NAMES.length);
    SERVICE_NAMES.forEach((name, i) => {
      const dir = join(profileDir, name);
      mkdirSync(dir, { recursive: true });
      const out = createWriteStream(join(run.logDir, `${name}.log`), { flags: 'a' });
      const child = spawn(
        process.execPath,
        ['--cpu-prof', `--cpu-prof-dir=${dir}`, join(ROOT, 'services', name, 'src', 'main.ts')],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            PF_KAFKA_BROKERS: stack.brokers.join(','),
            PF_REGISTRY_URL: stack.registryUrl,
            PF_PG_URL: stack.pgUrl,
            PF_PG_SCHEMA: run.schema,
            PF_COLD_DIR: run.coldDir,
            PF_TOPIC_NAMESPACE: run.namespace,
            PF_HTTP_PORT: String(basePort + i),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      child.stdout?.pipe(out);
      child.stderr?.pipe(out);
      services.push({ name, port: basePort + i, child, spawnedAt: Date.now(), dir });
    });
    const metrics = (service: Profiled) =>
      fetch(`http://127.0.0.1:${service.port}/metrics`)
        .then((r) => r.text())
        .catch(() => '');
    const sink = services.find((service) => service.name === 'sink')!;
    const pids = () => {
      const map = new Map<string, number>();
      for (const service of services) if (service.child.pid) map.set(service.name, service.child.pid);
      const broker = kafkaBrokerPid();
      if (broker) map.set('kafka-broker', broker);
      return map;
    };
    const rows = async () => metricSum(await metrics(sink), 'pf_sink_rows_total', 'result="inserted"');
    const deadline = Date.now() + 180_000;
    while ((await rows()) === 0) {
      for (const service of services) {
        if (service.child.exitCode !== null) throw new Error(`${service.name} exited; see ${run.logDir}`);
      }
      if (Date.now() > deadline) throw new Error(`no rows after 180 s; see ${run.logDir}`);
      await sleep(500);
    }
    log(`first rows; warming up ${warmupSec} s, then profiling ${seconds} s`);
    await sleep(warmupSec * 1000);
    const markAt = Date.now();
    const rowsAtMark = await rows();
    const cpuAtMark = cpuSnapshot(pids());
    await sleep(seconds * 1000);
    const endAt = Date.now();
    const rowsAtEnd = await rows();
    const cpu = cpuDelta(cpuAtMark, cpuSnapshot(pids()));
    const rate = round((rowsAtEnd - rowsAtMark) / ((endAt - markAt) / 1000));
    log(`${rate} rows/s with profiling on; stopping the services`);
    await stopAll();

    const summaries: Record<string, ProfileSummary> = {};
    for (const service of services) {
      const file = readdirSync(service.dir).find((name) => name.endsWith('.cpuprofile'));
      if (!file) {
        log(`${service.name}: no .cpuprofile written`);
        continue;
      }
      summaries[service.name] = summarizeProfile(join(service.dir, file), 15, {
        fromMs: markAt - service.spawnedAt,
        toMs: endAt - service.spawnedAt,
      });
      process.stdout.write(`\n== ${service.name} (${cpu[service.name] ?? '?'} CPU s in the window)\n`);
      process.stdout.write(`${formatSummary(summaries[service.name]!)}\n`);
    }
    const stamp = new Date(markAt).toISOString().replace(/[:.]/g, '-');
    const out = join(ROOT, 'bench', 'results', `profile-${stamp}.json`);
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          command: `node bench/profile.ts --seconds ${seconds} --events ${events}`,
          machine: machineFacts(),
          sinkRowsPerSecWithProfiling: rate,
          windowSec: round((endAt - markAt) / 1000, 1),
          cpuSecondsInWindow: cpu,
          profileDir,
          summaries,
        },
        null,
        2,
      )}\n`,
    );
    process.stdout.write(`\nprofiles: ${profileDir}\nsummary: ${out}\n`);
  } finally {
    await stopAll();
    await run.cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `profile failed: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`,
  );
  process.exit(1);
});
