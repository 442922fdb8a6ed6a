import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import {
  boolean,
  configSecrets,
  hostPorts,
  integer,
  list,
  loadConfig,
  oneOf,
  pemCertificates,
  port,
  redactUrl,
  secret,
  secretFile,
  string,
  url,
} from './index.ts';

const spec = {
  brokers: hostPorts('PF_KAFKA_BROKERS', ['127.0.0.1:9092']),
  httpPort: port('PF_HTTP_PORT', 9464),
  batch: integer('PF_BATCH', { default: 100, min: 1, max: 1000 }),
  level: oneOf('PF_LOG_LEVEL', ['info', 'debug'] as const, 'info'),
  pg: url('PF_PG_URL', ['postgres', 'postgresql']),
  verbose: boolean('PF_VERBOSE', false),
  name: string('PF_NAME', 'x'),
  lanes: list('PF_LANES', ['a']),
};

test('defaults apply and values parse into a frozen, typed object', () => {
  const config = loadConfig(spec, { PF_PG_URL: 'postgres://u:p@h:1/d', PF_BATCH: '250', PF_VERBOSE: 'yes' });
  assert.deepEqual(config.brokers, ['127.0.0.1:9092']);
  assert.equal(config.batch, 250);
  assert.equal(config.verbose, true);
  assert.equal(config.level, 'info');
  assert.ok(Object.isFrozen(config));
});

test('every bad variable is named in one error, with what it must be and what it was', () => {
  assert.throws(
    () =>
      loadConfig(spec, {
        PF_KAFKA_BROKERS: 'localhost',
        PF_HTTP_PORT: '70000',
        PF_BATCH: '1.5',
        PF_LOG_LEVEL: 'loud',
        PF_LANES: 'a,,b',
      }),
    (error: unknown) => {
      assert.ok(error instanceof PipelineError);
      assert.equal(error.code, ErrorCodes.CONFIG_INVALID);
      assert.match(error.message, /PF_KAFKA_BROKERS must be host:port/);
      assert.match(error.message, /PF_HTTP_PORT must be an integer between 0 and 65535, got "70000"/);
      assert.match(error.message, /PF_BATCH must be an integer between 1 and 1000, got "1.5"/);
      assert.match(error.message, /PF_LOG_LEVEL must be one of info, debug, got "loud"/);
      assert.match(error.message, /PF_PG_URL is required and not set/);
      assert.match(error.message, /PF_LANES has an empty item/);
      return true;
    },
  );
});

test('cross-field checks run after the fields parse', () => {
  assert.throws(
    () =>
      loadConfig(spec, { PF_PG_URL: 'postgres://h/d', PF_BATCH: '5' }, [
        (c) => (c.batch < 10 ? 'PF_BATCH must be at least 10 here' : undefined),
      ]),
    /PF_BATCH must be at least 10 here/,
  );
});

test('URLs with passwords are redacted in errors', () => {
  assert.equal(redactUrl('postgres://user:secret@host:5432/db'), 'postgres://user:***@host:5432/db');
  assert.throws(
    () => loadConfig(spec, { PF_PG_URL: 'http://user:secret@host/db' }),
    (error: Error) => {
      assert.doesNotMatch(error.message, /secret/);
      return true;
    },
  );
});

test('secret and secretFile values are listed by configSecrets, never quoted by an error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-test-'));
  try {
    const file = join(dir, 'password');
    writeFileSync(file, 'from-a-file\r\n');
    const secrets = {
      direct: secret('PF_DIRECT'),
      fromFile: secretFile('PF_FROM_FILE'),
      unset: secret('PF_UNSET'),
      ca: pemCertificates('PF_CA'),
      port: port('PF_PORT'),
    };
    const config = loadConfig(secrets, { PF_DIRECT: 'typed-in', PF_FROM_FILE: file, PF_PORT: '1' });
    assert.equal(config.fromFile, 'from-a-file');
    assert.equal(config.unset, '');
    assert.equal(config.ca, undefined);
    assert.deepEqual(configSecrets(config), ['typed-in', 'from-a-file']);
    assert.deepEqual(configSecrets({ direct: 'typed-in' }), [], 'only configs loadConfig made');
    assert.throws(
      () => loadConfig(secrets, { PF_DIRECT: 'typed-in', PF_FROM_FILE: join(dir, 'none'), PF_PORT: 'x' }),
      (error: Error) =>
        /PF_FROM_FILE names .*none, which cannot be read \(ENOENT\)/.test(error.message) &&
        !error.message.includes('typed-in'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
