import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Each service's main.ts is config parsing plus runMain: a bad environment variable must end
// in one structured fatal line naming the variable, and exit 1 — before anything connects.
for (const service of ['ingestor', 'inference-tagger', 'priority-router', 'sink']) {
  test(`${service}: a bad environment variable ends in one fatal log line and exit 1`, () => {
    const result = spawnSync(
      process.execPath,
      [...process.execArgv, `${ROOT}services/${service}/src/main.ts`],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? '',
          PF_MAX_BATCH_RECORDS: 'many',
          PF_KAFKA_BROKERS: '127.0.0.1:1',
        },
      },
    );
    assert.equal(result.status, 1, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 1, result.stdout);
    const line = JSON.parse(lines[0]!);
    assert.equal(line.level, 'fatal');
    assert.equal(line.service, service);
    assert.equal(line.err.code, 'PF_CONFIG_INVALID');
    assert.match(line.err.message, /PF_MAX_BATCH_RECORDS must be an integer between 1 and 10000, got "many"/);
  });
}

// Credentials in the wrong place are refused before anything connects, and the one fatal
// line names the variables without ever printing the password.
test('a password set for a plaintext Kafka link ends in one fatal line that names the variables, not the password', () => {
  const password = 'planted-secret-for-the-fatal-line';
  const result = spawnSync(process.execPath, [...process.execArgv, `${ROOT}services/ingestor/src/main.ts`], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '',
      PF_KAFKA_BROKERS: '127.0.0.1:1',
      PF_KAFKA_SASL_USERNAME: 'pipeline',
      PF_KAFKA_SASL_PASSWORD: password,
    },
  });
  assert.equal(result.status, 1, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.length, 1, result.stdout);
  const line = JSON.parse(lines[0]!);
  assert.equal(line.level, 'fatal');
  assert.equal(line.err.code, 'PF_CONFIG_INVALID');
  assert.match(
    line.err.message,
    /PF_KAFKA_SASL_USERNAME, PF_KAFKA_SASL_PASSWORD set but PF_KAFKA_SECURITY_PROTOCOL is plaintext/,
  );
  assert.ok(!`${result.stdout}${result.stderr}`.includes(password), 'the password is never printed');
});
