import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { durationMs, findPrometheus, localPrometheusConfig } from './prometheus.ts';

const ALERTS = fileURLToPath(new URL('../../ops/prometheus/alerts.yml', import.meta.url));
const PORTS = { ingestor: 39500, 'inference-tagger': 39501, 'priority-router': 39502, sink: 39503 };
const scratch = mkdtempSync(join(tmpdir(), 'prometheus-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Generated {
  global: Record<string, string | Record<string, string>>;
  rule_files: string[];
  scrape_configs: {
    job_name: string;
    metrics_path?: string;
    static_configs: { targets: string[]; labels?: Record<string, string> }[];
  }[];
}
const generate = (options: Partial<Parameters<typeof localPrometheusConfig>[0]> = {}) =>
  parse(localPrometheusConfig({ servicePorts: PORTS, port: 39590, ...options })) as Generated;

test('the real configuration, moved to the local ports: same jobs, labels and rule file', () => {
  const config = generate();
  assert.deepEqual(config.rule_files, [ALERTS]);
  assert.deepEqual(config.global, {
    scrape_interval: '15s',
    scrape_timeout: '10s',
    evaluation_interval: '15s',
    external_labels: { system: 'patternflow' },
  });
  const [pipeline, self] = config.scrape_configs;
  assert.equal(pipeline!.job_name, 'patternflow');
  assert.equal(pipeline!.metrics_path, '/metrics');
  assert.deepEqual(pipeline!.static_configs, [
    { targets: ['127.0.0.1:39500'], labels: { service: 'ingestor' } },
    { targets: ['127.0.0.1:39501'], labels: { service: 'inference-tagger' } },
    { targets: ['127.0.0.1:39502'], labels: { service: 'priority-router' } },
    { targets: ['127.0.0.1:39503'], labels: { service: 'sink' } },
  ]);
  assert.equal(self!.job_name, 'prometheus');
  assert.deepEqual(self!.static_configs, [{ targets: ['127.0.0.1:39590'] }]);
});

test('shorter intervals keep the scrape timeout within the interval', () => {
  const config = generate({ scrapeInterval: '1s', evaluationInterval: '2s' });
  assert.equal(config.global.scrape_interval, '1s');
  assert.equal(config.global.scrape_timeout, '1s');
  assert.equal(config.global.evaluation_interval, '2s');
  assert.equal(generate({ scrapeInterval: '1m' }).global.scrape_timeout, '10s');
  assert.throws(() => generate({ scrapeInterval: '1 second' }), /not a Prometheus duration/);
});

test('other rule files replace the real ones, and must exist', () => {
  const copy = join(scratch, 'alerts-short.yml');
  writeFileSync(copy, 'groups: []\n');
  assert.deepEqual(generate({ ruleFiles: [copy] }).rule_files, [copy]);
  assert.throws(() => generate({ ruleFiles: [join(scratch, 'none.yml')] }), /none\.yml does not exist/);
});

test('a service without a port, a port without a service, a target without a service label: errors', () => {
  const { sink: _, ...withoutSink } = PORTS;
  assert.throws(() => generate({ servicePorts: withoutSink }), /no local port given for service sink/);
  assert.throws(
    () => generate({ servicePorts: { ...PORTS, ghost: 39504 } }),
    /the real configuration scrapes no service named ghost/,
  );
  const source = `
scrape_configs:
  - job_name: other
    static_configs:
      - targets: ["somewhere:1234"]
`;
  assert.throws(() => generate({ servicePorts: {}, source }), /job other .* without a service label/);
});

test('durations as Prometheus writes them', () => {
  assert.equal(durationMs('15s'), 15_000);
  assert.equal(durationMs('1m30s'), 90_000);
  assert.equal(durationMs('500ms'), 500);
  assert.equal(durationMs('2h'), 7_200_000);
  assert.throws(() => durationMs('15'), /not a Prometheus duration/);
});

test('the binary: PF_PROMETHEUS_BIN, else PATH; missing, the message names the apt package', () => {
  const bin = join(scratch, 'bin');
  const fake = join(scratch, 'prometheus');
  writeFileSync(fake, '#!/bin/sh\n');
  chmodSync(fake, 0o755);
  assert.equal(findPrometheus({ PF_PROMETHEUS_BIN: fake }), fake);
  assert.throws(() => findPrometheus({ PF_PROMETHEUS_BIN: join(scratch, 'nope') }), /not an executable file/);
  assert.equal(findPrometheus({ PATH: `${bin}:${scratch}` }), fake);
  // Not on PATH: Debian's binary when the package is installed, else an error naming the package.
  if (existsSync('/usr/bin/prometheus')) assert.equal(findPrometheus({ PATH: bin }), '/usr/bin/prometheus');
  else assert.throws(() => findPrometheus({ PATH: bin }), /apt-get install prometheus/);
});
