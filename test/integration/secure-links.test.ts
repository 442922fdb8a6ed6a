/**
 * The secure links against the real stack: a service with refused credentials or an
 * untrusted certificate (Kafka, the registry, PostgreSQL) exits 1 within seconds, after one
 * or two connections, with one fatal line naming the code and what to fix, and no retry
 * storm; and no line a service writes — starting, failing, running, dead-lettering, stopping
 * — ever holds a password. Connections are counted by a TCP proxy in front of the real port.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCodes } from '@patternflow/errors';
import { deleteNamespace, readTopic, secureStack, uniqueName } from '@patternflow/harness';
import { createKafka, DeadLetterHeaders } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import pg from 'pg';
import { startTcpProxy, type TcpProxy } from '../faults/tcp-proxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const secure = secureStack();
const dir = mkdtempSync(join(tmpdir(), 'secure-links-'));
/** Planted, so that the test knows exactly what must never be printed. */
const PLANTED = `planted-${Math.random().toString(36).slice(2)}-password`;
/** How long a refused start may take: node's own start, the config, one connection. */
const FAST_EXIT_MS = 15_000;

/** A CA that signed nothing the stack serves. */
const foreignCa = join(dir, 'foreign-ca.pem');

const portOf = (hostPort: string) => Number(hostPort.split(':').pop());
const brokerPort = portOf(secure.env.PF_KAFKA_BROKERS!);
const registryPort = Number(new URL(secure.env.PF_REGISTRY_URL!).port);
const pgPort = Number(new URL(secure.env.PF_PG_URL!).port);

interface Run {
  exitCode: number | null;
  elapsedMs: number;
  output: string;
  lines: Record<string, unknown>[];
}

/** Starts a service with exactly `env` (and PATH), collecting everything it writes. */
function startService(
  name: 'ingestor' | 'sink',
  env: Record<string, string>,
): {
  child: ChildProcess;
  run: Promise<Run>;
  output: () => string;
} {
  const started = Date.now();
  const child = spawn(process.execPath, [join(ROOT, 'services', name, 'src', 'main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_OPTIONS: process.env.NODE_OPTIONS ?? '',
      PF_HTTP_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const run = new Promise<Run>((resolve) => {
    child.once('close', (exitCode) => {
      const lines = output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ exitCode, elapsedMs: Date.now() - started, output, lines });
    });
  });
  return { child, run, output: () => output };
}

/** The run of a service that must refuse to start. */
async function refusedStart(name: 'ingestor' | 'sink', env: Record<string, string>): Promise<Run> {
  const { child, run } = startService(name, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const result = await run;
  clearTimeout(timer);
  return result;
}

/** Exit 1 quickly, with exactly one line at error level or above: fatal, with `code`. */
function assertFatalOnce(run: Run, code: string, mentions: RegExp): Record<string, unknown> {
  assert.equal(run.exitCode, 1, run.output);
  assert.ok(run.elapsedMs < FAST_EXIT_MS, `exited after ${run.elapsedMs} ms`);
  const loud = run.lines.filter((line) => line.level === 'error' || line.level === 'fatal');
  assert.equal(loud.length, 1, `one line at error or fatal:\n${run.output}`);
  const fatal = loud[0]!;
  assert.equal(fatal.level, 'fatal');
  assert.equal((fatal.err as { code?: string }).code, code, run.output);
  assert.match(String(fatal.msg), new RegExp(`^failed to start: ${code}: `));
  assert.match(String(fatal.msg), mentions);
  return fatal;
}

function assertNoSecret(run: { output: string }, secrets: readonly string[]) {
  for (const secret of secrets) assert.ok(!run.output.includes(secret), 'a secret reached the output');
}

/** The secure env of the stack with `overrides`; `undefined` removes a variable. */
function envWith(overrides: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string | undefined> = {
    ...secure.env,
    PF_TOPIC_NAMESPACE: uniqueName('secure').replace('.', '-'),
    ...overrides,
  };
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

const proxies: TcpProxy[] = [];
async function proxyTo(targetPort: number, listenHost = '127.0.0.1'): Promise<TcpProxy> {
  const proxy = await startTcpProxy({ listenPort: 0, targetPort, listenHost });
  proxies.push(proxy);
  return proxy;
}

before(() => {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
    ].concat(['-subj', '/CN=not the stack CA', '-keyout', join(dir, 'foreign-ca.key'), '-out', foreignCa]),
    { stdio: 'ignore' },
  );
});

after(async () => {
  for (const proxy of proxies) await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Kafka link', () => {
  test('a wrong SASL password: exit 1 within seconds after one connection, PF_KAFKA_AUTH, the password never printed', async (t) => {
    const proxy = await proxyTo(brokerPort);
    const run = await refusedStart(
      'ingestor',
      envWith({
        PF_KAFKA_BROKERS: `127.0.0.1:${proxy.port}`,
        PF_KAFKA_SASL_PASSWORD_FILE: undefined,
        PF_KAFKA_SASL_PASSWORD: PLANTED,
      }),
    );
    assertFatalOnce(run, ErrorCodes.KAFKA_AUTH, /PF_KAFKA_SASL_USERNAME, PF_KAFKA_SASL_PASSWORD/);
    assert.ok(proxy.accepted >= 1 && proxy.accepted <= 2, `${proxy.accepted} connections to the broker`);
    assertNoSecret(run, [PLANTED, ...secure.secrets]);
    t.diagnostic(`wrong password: exit after ${run.elapsedMs} ms, ${proxy.accepted} connection(s)`);
  });

  test('a certificate the CA file does not trust: exit 1 within seconds after one connection, PF_KAFKA_TLS', async (t) => {
    const proxy = await proxyTo(brokerPort);
    const run = await refusedStart(
      'ingestor',
      envWith({ PF_KAFKA_BROKERS: `127.0.0.1:${proxy.port}`, PF_KAFKA_SSL_CA_FILE: foreignCa }),
    );
    const fatal = assertFatalOnce(
      run,
      ErrorCodes.KAFKA_TLS,
      /PF_KAFKA_SSL_CA_FILE must hold the CA that signed it/,
    );
    assert.match(String(fatal.msg), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN/);
    assert.ok(proxy.accepted >= 1 && proxy.accepted <= 2, `${proxy.accepted} connections to the broker`);
    assertNoSecret(run, secure.secrets);
    t.diagnostic(`untrusted CA: exit after ${run.elapsedMs} ms, ${proxy.accepted} connection(s)`);
  });

  test('a certificate that does not name the host connected to: PF_KAFKA_TLS (ERR_TLS_CERT_ALTNAME_INVALID)', async () => {
    // The broker's certificate names 127.0.0.1 and localhost; 127.0.0.2 reaches it through the proxy.
    const proxy = await proxyTo(brokerPort, '127.0.0.2');
    const run = await refusedStart('ingestor', envWith({ PF_KAFKA_BROKERS: `127.0.0.2:${proxy.port}` }));
    const fatal = assertFatalOnce(run, ErrorCodes.KAFKA_TLS, /must name the host in PF_KAFKA_BROKERS/);
    assert.match(String(fatal.msg), /ERR_TLS_CERT_ALTNAME_INVALID/);
    assert.ok(proxy.accepted <= 2, `${proxy.accepted} connections to the broker`);
  });

  test('SASL credentials with a plaintext protocol are refused before any connection is made', async () => {
    const run = await refusedStart(
      'ingestor',
      envWith({ PF_KAFKA_SECURITY_PROTOCOL: 'plaintext', PF_KAFKA_SSL_CA_FILE: undefined }),
    );
    assert.equal(run.exitCode, 1);
    assert.match(
      run.output,
      /PF_KAFKA_SASL_USERNAME, PF_KAFKA_SASL_PASSWORD_FILE set but PF_KAFKA_SECURITY_PROTOCOL is plaintext/,
    );
  });
});

describe('registry link', () => {
  test('a wrong basic-auth password: exit 1 within seconds, PF_REGISTRY_AUTH, after one or two connections', async (t) => {
    const proxy = await proxyTo(registryPort);
    const run = await refusedStart(
      'ingestor',
      envWith({
        PF_REGISTRY_URL: `https://127.0.0.1:${proxy.port}/apis/ccompat/v7`,
        PF_REGISTRY_PASSWORD_FILE: undefined,
        PF_REGISTRY_PASSWORD: PLANTED,
      }),
    );
    assertFatalOnce(
      run,
      ErrorCodes.REGISTRY_AUTH,
      /refused the credentials of PF_REGISTRY_USERNAME "pipeline" \(HTTP 401\)/,
    );
    assert.ok(proxy.accepted >= 1 && proxy.accepted <= 2, `${proxy.accepted} connections to the registry`);
    assertNoSecret(run, [PLANTED, Buffer.from(`pipeline:${PLANTED}`).toString('base64'), ...secure.secrets]);
    t.diagnostic(`wrong registry password: exit after ${run.elapsedMs} ms, ${proxy.accepted} connection(s)`);
  });

  test('a registry certificate the CA file does not trust: PF_REGISTRY_TLS', async () => {
    const proxy = await proxyTo(registryPort);
    const run = await refusedStart(
      'ingestor',
      envWith({
        PF_REGISTRY_URL: `https://127.0.0.1:${proxy.port}/apis/ccompat/v7`,
        PF_REGISTRY_CA_FILE: foreignCa,
      }),
    );
    assertFatalOnce(run, ErrorCodes.REGISTRY_TLS, /PF_REGISTRY_CA_FILE must hold the CA that signed it/);
    assert.ok(proxy.accepted >= 1 && proxy.accepted <= 2, `${proxy.accepted} connections to the registry`);
    assertNoSecret(run, secure.secrets);
  });
});

describe('PostgreSQL link', () => {
  const pgUrl = (port: number, password = 'patternflow') =>
    `postgres://patternflow:${password}@127.0.0.1:${port}/patternflow?sslmode=verify-full`;

  test('a wrong password in PF_PG_URL: the sink exits 1 within seconds, PF_SINK_AUTH, the URL password never printed', async (t) => {
    const proxy = await proxyTo(pgPort);
    const run = await refusedStart(
      'sink',
      envWith({ PF_PG_URL: pgUrl(proxy.port, PLANTED), PF_COLD_DIR: join(dir, 'cold-auth') }),
    );
    assertFatalOnce(run, ErrorCodes.SINK_AUTH, /refused the credentials of PF_PG_URL/);
    assert.ok(proxy.accepted >= 1 && proxy.accepted <= 2, `${proxy.accepted} connections to PostgreSQL`);
    assertNoSecret(run, [PLANTED, ...secure.secrets]);
    t.diagnostic(
      `wrong PostgreSQL password: exit after ${run.elapsedMs} ms, ${proxy.accepted} connection(s)`,
    );
  });

  test('a PostgreSQL certificate the CA file does not trust: PF_SINK_TLS, no plaintext retry', async () => {
    const proxy = await proxyTo(pgPort);
    const run = await refusedStart(
      'sink',
      envWith({ PF_PG_URL: pgUrl(proxy.port), PF_PG_CA_FILE: foreignCa, PF_COLD_DIR: join(dir, 'cold-tls') }),
    );
    assertFatalOnce(run, ErrorCodes.SINK_TLS, /PF_PG_CA_FILE must hold the CA that signed it/);
    assert.ok(proxy.accepted >= 1 && proxy.accepted <= 2, `${proxy.accepted} connections to PostgreSQL`);
  });
});

test('a sink over all three secure links, at debug level, through start, a dead letter and shutdown: no line holds a secret', async () => {
  const namespace = uniqueName('secure-run').replace('.', '-');
  const schema = namespace.replace(/[^a-z0-9_]/g, '_');
  const topics = topicNames(namespace);
  const { child, run, output } = startService('sink', {
    ...secure.env,
    PF_TOPIC_NAMESPACE: namespace,
    PF_PG_SCHEMA: schema,
    PF_COLD_DIR: join(dir, 'cold-run'),
    PF_LOG_LEVEL: 'debug',
  });
  const logger = createLogger({ service: 'secure-links-test', level: 'error' });
  const kafka = createKafka({
    ...secure.kafka,
    clientId: 'secure-links-test',
    logger,
    clientLogLevel: 'error',
  });
  const pool = new pg.Pool({ ...secure.pg, max: 1 });
  try {
    const deadline = Date.now() + 60_000;
    while (!output().includes('"msg":"stage running"')) {
      assert.equal(child.exitCode, null, output());
      assert.ok(Date.now() < deadline, `the sink did not start:\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // A Confluent frame with an id the registry does not know: the sink asks the registry
    // (with its credentials), then dead-letters the record and logs why.
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: topics.routed('standard'),
      acks: -1,
      messages: [{ key: 'x', value: Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]) }],
    });
    await producer.disconnect();
    const [dead] = await readTopic(kafka, topics.dlq, 1);
    assert.equal(dead!.headers[DeadLetterHeaders.reason], ErrorCodes.UNKNOWN_SCHEMA_ID);
    child.kill('SIGTERM');
    const result = await run;
    assert.equal(result.exitCode, 0, result.output);
    for (const message of ['stage running', 'stopping', 'stopped']) {
      assert.ok(
        result.lines.some((line) => line.msg === message),
        `the run logged "${message}"`,
      );
    }
    assert.ok(
      result.lines.some((line) => line.reason === ErrorCodes.UNKNOWN_SCHEMA_ID),
      'the dead letter was logged',
    );
    assertNoSecret(result, secure.secrets);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await deleteNamespace(kafka, namespace);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  }
});
