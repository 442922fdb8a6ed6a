/**
 * `patternflow status` as a process when the stages do not answer and when Kafka cannot be
 * reached: the exit codes a script relies on. (Running stages: test/e2e/cli-run.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reservePorts, runPatternflow, stack, uniqueName } from '@patternflow/harness';

const namespace = uniqueName('clistatus').replace('.', '-');
/** Ports where nothing listens, held by this process so nothing starts there. */
const NOBODY = await reservePorts(4);
const env = {
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_TOPIC_NAMESPACE: namespace,
  PF_RUN_BASE_PORT: String(NOBODY),
};

test('stages that do not answer are down: exit 1, one JSON document saying so', async () => {
  const result = await runPatternflow(['status', '--json', '--interval', '200ms'], env);
  assert.equal(result.code, 1, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.namespace, namespace);
  assert.deepEqual(report.kafka, { reachable: true });
  assert.deepEqual(
    report.stages.map((s: { stage: string; state: string; url: string }) => [s.stage, s.state, s.url]),
    [
      ['ingestor', 'down', `http://127.0.0.1:${NOBODY}`],
      ['inference-tagger', 'down', `http://127.0.0.1:${NOBODY + 1}`],
      ['priority-router', 'down', `http://127.0.0.1:${NOBODY + 2}`],
      ['sink', 'down', `http://127.0.0.1:${NOBODY + 3}`],
    ],
  );
  assert.match(report.stages[0].error, /ECONNREFUSED/);
  assert.equal(report.stages[3].group, `${namespace}.patternflow.sink`);
  assert.equal(report.stages[3].lag, 0, 'a pipeline without topics has nothing to read');

  const text = await runPatternflow(
    ['status', '--interval', '200ms', '--stage-url', `sink=http://127.0.0.1:${NOBODY + 3}`],
    env,
  );
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^sink +DOWN +- +- +0 +- +-$/m);
  assert.match(
    text.stdout,
    new RegExp(`sink: http://127\\.0\\.0\\.1:${NOBODY + 3} does not answer: ECONNREFUSED`),
  );
});

test('Kafka unreachable: exit 3, in a few seconds', async () => {
  const started = Date.now();
  const result = await runPatternflow(['--brokers', '127.0.0.1:1', 'status', '--interval', '200ms'], env);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stdout, /Kafka unreachable: .*(ECONNREFUSED|127\.0\.0\.1:1)/);
  assert.ok(Date.now() - started < 20_000);
});

test('a bad --stage-url is a usage error', async () => {
  const result = await runPatternflow(['status', '--stage-url', 'router=http://x'], env);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--stage-url: expected <stage>=<url>/);
});
