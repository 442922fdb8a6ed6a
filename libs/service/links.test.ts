import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { configSecrets, loadConfig } from '@patternflow/config';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import {
  kafkaLinkOf,
  linkConfigProblems,
  linkConfigSpec,
  linkSecrets,
  linksFromEnv,
  postgresConfigProblems,
  postgresConfigSpec,
  postgresPoolOptions,
  registryLinkOf,
} from './links.ts';

const dir = mkdtempSync(join(tmpdir(), 'links-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, PEM);
const PASSWORD = 'planted-kafka-password-7f3a';
const passwordFile = join(dir, 'kafka.password');
writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
const notPem = join(dir, 'not.pem');
writeFileSync(notPem, 'hello');

const load = (env: Record<string, string>) =>
  loadConfig(linkConfigSpec(), env, [(c) => linkConfigProblems(c).join('; ') || undefined]);

/** The configuration error of `env`, checked never to quote any of `secrets`. */
function refusal(env: Record<string, string>, secrets: readonly string[] = [PASSWORD]): string {
  try {
    load(env);
  } catch (error) {
    assert.ok(error instanceof PipelineError);
    assert.equal(error.code, ErrorCodes.CONFIG_INVALID);
    for (const secret of secrets)
      assert.ok(!error.message.includes(secret), `"${error.message}" quotes a secret`);
    return error.message;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe('Kafka link', () => {
  test('plaintext by default: no TLS, no SASL', () => {
    const link = kafkaLinkOf(load({}));
    assert.deepEqual(link, { brokers: ['127.0.0.1:19092'], security: { protocol: 'plaintext' } });
  });

  test('sasl_ssl with a password file and a CA: the password is read once, trimmed of its line break, and listed as a secret', () => {
    const config = load({
      PF_KAFKA_BROKERS: '127.0.0.1:19096',
      PF_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
      PF_KAFKA_SASL_USERNAME: 'pipeline',
      PF_KAFKA_SASL_PASSWORD_FILE: passwordFile,
      PF_KAFKA_SSL_CA_FILE: caFile,
    });
    assert.deepEqual(kafkaLinkOf(config).security, {
      protocol: 'sasl_ssl',
      ca: PEM,
      sasl: { mechanism: 'scram-sha-512', username: 'pipeline', password: PASSWORD },
    });
    assert.deepEqual(configSecrets(config), [PASSWORD]);
  });

  test('ssl alone: TLS with the CA, no credentials', () => {
    const config = load({ PF_KAFKA_SECURITY_PROTOCOL: 'ssl', PF_KAFKA_SSL_CA_FILE: caFile });
    assert.deepEqual(kafkaLinkOf(config).security, { protocol: 'ssl', ca: PEM });
  });

  test('sasl_plaintext is refused: credentials only travel over TLS', () => {
    assert.match(
      refusal({ PF_KAFKA_SECURITY_PROTOCOL: 'sasl_plaintext' }),
      /PF_KAFKA_SECURITY_PROTOCOL is sasl_plaintext, which is refused: SASL credentials only travel over TLS \(use sasl_ssl\)/,
    );
    assert.match(refusal({ PF_KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT' }), /which is refused/);
    assert.match(refusal({ PF_KAFKA_SECURITY_PROTOCOL: 'tls' }), /must be one of plaintext, ssl, sasl_ssl/);
  });

  test("Kafka's own spelling is accepted: SASL_SSL, SCRAM-SHA-512", () => {
    const config = load({
      PF_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      PF_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      PF_KAFKA_SASL_USERNAME: 'pipeline',
      PF_KAFKA_SASL_PASSWORD: PASSWORD,
    });
    assert.equal(config.kafkaSecurityProtocol, 'sasl_ssl');
    assert.equal(config.kafkaSaslMechanism, 'scram-sha-512');
  });

  test('credentials without sasl_ssl are refused, naming the variables and not the password', () => {
    const message = refusal({ PF_KAFKA_SASL_USERNAME: 'pipeline', PF_KAFKA_SASL_PASSWORD: PASSWORD });
    assert.match(
      message,
      /PF_KAFKA_SASL_USERNAME, PF_KAFKA_SASL_PASSWORD set but PF_KAFKA_SECURITY_PROTOCOL is plaintext: SASL credentials are only sent over TLS/,
    );
    assert.match(
      refusal({ PF_KAFKA_SECURITY_PROTOCOL: 'ssl', PF_KAFKA_SASL_PASSWORD_FILE: passwordFile }),
      /PF_KAFKA_SASL_PASSWORD_FILE set but PF_KAFKA_SECURITY_PROTOCOL is ssl/,
    );
  });

  test('sasl_ssl needs a username and exactly one of the password variables', () => {
    const missing = refusal({ PF_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl' });
    assert.match(missing, /PF_KAFKA_SASL_USERNAME is required when PF_KAFKA_SECURITY_PROTOCOL is sasl_ssl/);
    assert.match(missing, /PF_KAFKA_SASL_PASSWORD or PF_KAFKA_SASL_PASSWORD_FILE is required/);
    assert.match(
      refusal({
        PF_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
        PF_KAFKA_SASL_USERNAME: 'pipeline',
        PF_KAFKA_SASL_PASSWORD: PASSWORD,
        PF_KAFKA_SASL_PASSWORD_FILE: passwordFile,
      }),
      /set only one of PF_KAFKA_SASL_PASSWORD and PF_KAFKA_SASL_PASSWORD_FILE/,
    );
  });

  test('a CA with plaintext is refused rather than ignored', () => {
    assert.match(
      refusal({ PF_KAFKA_SSL_CA_FILE: caFile }),
      /PF_KAFKA_SSL_CA_FILE is set but PF_KAFKA_SECURITY_PROTOCOL is plaintext/,
    );
  });

  test('files are checked at startup: unreadable, empty or not PEM, each naming the variable and the path', () => {
    const message = refusal({
      PF_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
      PF_KAFKA_SASL_USERNAME: 'pipeline',
      PF_KAFKA_SASL_PASSWORD_FILE: join(dir, 'missing.password'),
      PF_KAFKA_SSL_CA_FILE: notPem,
    });
    assert.match(
      message,
      /PF_KAFKA_SASL_PASSWORD_FILE names .*missing\.password, which cannot be read \(ENOENT\)/,
    );
    assert.match(
      message,
      /PF_KAFKA_SSL_CA_FILE must name a PEM file of certificates, but .*not\.pem holds no/,
    );
    const empty = join(dir, 'empty.password');
    writeFileSync(empty, '\n');
    assert.match(
      refusal({
        PF_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
        PF_KAFKA_SASL_USERNAME: 'u',
        PF_KAFKA_SASL_PASSWORD_FILE: empty,
      }),
      /PF_KAFKA_SASL_PASSWORD_FILE names the empty file/,
    );
  });
});

describe('registry link', () => {
  const REGISTRY_PASSWORD = 'planted-registry-password-91c';
  const https = 'https://127.0.0.1:18443/apis/ccompat/v7';

  test('https with basic auth and a CA; the password and its basic-auth token are secrets', () => {
    const config = load({
      PF_REGISTRY_URL: https,
      PF_REGISTRY_USERNAME: 'pipeline',
      PF_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
      PF_REGISTRY_CA_FILE: caFile,
    });
    assert.deepEqual(registryLinkOf(config), {
      url: https,
      username: 'pipeline',
      password: REGISTRY_PASSWORD,
      ca: PEM,
    });
    assert.deepEqual(linkSecrets(config), [
      REGISTRY_PASSWORD,
      Buffer.from(`pipeline:${REGISTRY_PASSWORD}`).toString('base64'),
    ]);
    assert.deepEqual(registryLinkOf(load({})), { url: 'http://127.0.0.1:18081/apis/ccompat/v7' });
  });

  test('credentials and a CA are refused over http, and half credentials anywhere', () => {
    const secrets = [REGISTRY_PASSWORD];
    const http = 'http://127.0.0.1:18081/apis/ccompat/v7';
    assert.match(
      refusal(
        { PF_REGISTRY_URL: http, PF_REGISTRY_USERNAME: 'u', PF_REGISTRY_PASSWORD: REGISTRY_PASSWORD },
        secrets,
      ),
      /PF_REGISTRY_USERNAME and PF_REGISTRY_PASSWORD are only sent over https/,
    );
    assert.match(
      refusal({ PF_REGISTRY_URL: http, PF_REGISTRY_CA_FILE: caFile }),
      /PF_REGISTRY_CA_FILE is set but PF_REGISTRY_URL is http/,
    );
    assert.match(
      refusal({ PF_REGISTRY_URL: https, PF_REGISTRY_PASSWORD: REGISTRY_PASSWORD }, secrets),
      /PF_REGISTRY_PASSWORD is set without PF_REGISTRY_USERNAME/,
    );
    assert.match(
      refusal({ PF_REGISTRY_URL: https, PF_REGISTRY_USERNAME: 'u' }),
      /PF_REGISTRY_USERNAME is set without PF_REGISTRY_PASSWORD or PF_REGISTRY_PASSWORD_FILE/,
    );
  });

  test('credentials inside PF_REGISTRY_URL are refused, and the message hides the password', () => {
    const message = refusal(
      { PF_REGISTRY_URL: `https://pipeline:${REGISTRY_PASSWORD}@127.0.0.1:18443/apis/ccompat/v7` },
      [REGISTRY_PASSWORD],
    );
    assert.match(message, /PF_REGISTRY_URL must not carry credentials \(got "https:\/\/pipeline:\*\*\*@127/);
  });
});

describe('PostgreSQL link', () => {
  const loadPg = (env: Record<string, string>) =>
    loadConfig(postgresConfigSpec(), env, [(c) => postgresConfigProblems(c).join('; ') || undefined]);
  const base = 'postgres://patternflow:pg-planted-secret@127.0.0.1:15432/patternflow';

  test('no sslmode or sslmode=disable: plaintext, as before; no sslmode with a CA file: verify-full', () => {
    assert.deepEqual(postgresPoolOptions(loadPg({ PF_PG_URL: base })), {
      connectionString: base,
      ssl: false,
    });
    assert.equal(postgresPoolOptions(loadPg({ PF_PG_URL: `${base}?sslmode=disable` })).ssl, false);
    assert.deepEqual(postgresPoolOptions(loadPg({ PF_PG_URL: base, PF_PG_CA_FILE: caFile })), {
      connectionString: base,
      ssl: { rejectUnauthorized: true, ca: PEM },
    });
  });

  test('verify-full and require verify chain and host name with PF_PG_CA_FILE; the URL loses its sslmode so pg cannot override', () => {
    for (const mode of ['verify-full', 'require']) {
      const options = postgresPoolOptions(
        loadPg({ PF_PG_URL: `${base}?sslmode=${mode}&application_name=x`, PF_PG_CA_FILE: caFile }),
      );
      assert.equal(options.connectionString, `${base}?application_name=x`);
      assert.deepEqual(options.ssl, { rejectUnauthorized: true, ca: PEM });
    }
  });

  test('verify-ca verifies the chain and skips the host name', () => {
    const { ssl } = postgresPoolOptions(
      loadPg({ PF_PG_URL: `${base}?sslmode=verify-ca`, PF_PG_CA_FILE: caFile }),
    );
    assert.ok(ssl !== false);
    assert.equal(ssl.rejectUnauthorized, true);
    assert.equal(ssl.checkServerIdentity?.('elsewhere', {} as never), undefined);
  });

  test('modes that fall back to plaintext or trust anything are refused, as are a CA without TLS and libpq file parameters', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadPg(env);
      } catch (error) {
        assert.ok(!(error as Error).message.includes('pg-planted-secret'), (error as Error).message);
        return (error as Error).message;
      }
      assert.fail(`accepted ${JSON.stringify(env)}`);
    };
    for (const mode of ['prefer', 'allow', 'no-verify']) {
      assert.match(
        refused({ PF_PG_URL: `${base}?sslmode=${mode}` }),
        new RegExp(`sslmode=${mode}, which is refused`),
      );
    }
    assert.match(
      refused({ PF_PG_URL: `${base}?sslmode=disable`, PF_PG_CA_FILE: caFile }),
      /PF_PG_CA_FILE is set but PF_PG_URL has sslmode=disable/,
    );
    assert.match(
      refused({ PF_PG_URL: `${base}?sslmode=verify-full&sslrootcert=/x.pem` }),
      /PF_PG_URL has sslrootcert: say TLS with sslmode/,
    );
  });
});

test('linksFromEnv: the links of a tool or the CLI, from the same variables and rules', () => {
  const links = linksFromEnv({
    PF_KAFKA_BROKERS: 'b:9093',
    PF_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
    PF_KAFKA_SASL_MECHANISM: 'scram-sha-256',
    PF_KAFKA_SASL_USERNAME: 'u',
    PF_KAFKA_SASL_PASSWORD: PASSWORD,
  });
  assert.deepEqual(links.kafka, {
    brokers: ['b:9093'],
    security: {
      protocol: 'sasl_ssl',
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: PASSWORD },
    },
  });
  assert.deepEqual(links.secrets, [PASSWORD]);
  assert.throws(
    () => linksFromEnv({ PF_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl' }),
    /PF_KAFKA_SASL_USERNAME is required/,
  );
});
