/**
 * The connection settings of the pipeline's three dependencies — Kafka, the schema registry
 * and PostgreSQL — in one place: their environment variables, the rules between them, and
 * the plain objects the clients take. The stages, the load generator, the CLI and the tests
 * all read them here, so a variable means the same thing everywhere.
 *
 * What holds for every link: a client configured for TLS verifies the peer's certificate
 * (chain and host name) and never falls back to plaintext; credentials are only sent over
 * TLS; no message about a bad value quotes a secret.
 */
import type { ConnectionOptions } from 'node:tls';
import {
  type ConfigOf,
  configSecrets,
  type Env,
  type Field,
  hostPorts,
  InvalidValue,
  loadConfig,
  oneOf,
  pemCertificates,
  redactUrl,
  secret,
  secretFile,
  string,
  url,
} from '@patternflow/config';
import {
  KAFKA_SASL_MECHANISMS,
  KAFKA_SECURITY_PROTOCOLS,
  type KafkaSecurity,
  type KafkaSecurityProtocol,
} from '@patternflow/kafka';
import type { RegistryLink } from '@patternflow/registry';

/** A choice written in any case, as Kafka's own settings are (SASL_SSL, SCRAM-SHA-512). */
function anyCase<T>(field: Field<T>): Field<T> {
  return { variable: field.variable, parse: (raw) => field.parse(raw?.toLowerCase()) };
}

function kafkaSecurityProtocol(): Field<KafkaSecurityProtocol> {
  const choices = anyCase(oneOf('PF_KAFKA_SECURITY_PROTOCOL', KAFKA_SECURITY_PROTOCOLS, 'plaintext'));
  return {
    variable: choices.variable,
    parse(raw) {
      if (raw?.trim().toLowerCase() === 'sasl_plaintext') {
        throw new InvalidValue(
          'is sasl_plaintext, which is refused: SASL credentials only travel over TLS (use sasl_ssl)',
        );
      }
      return choices.parse(raw);
    },
  };
}

/** PF_KAFKA_* and PF_REGISTRY_*: how to reach the brokers and the registry. */
export function linkConfigSpec() {
  return {
    brokers: hostPorts('PF_KAFKA_BROKERS', ['127.0.0.1:19092']),
    kafkaSecurityProtocol: kafkaSecurityProtocol(),
    kafkaSaslMechanism: anyCase(oneOf('PF_KAFKA_SASL_MECHANISM', KAFKA_SASL_MECHANISMS, 'scram-sha-512')),
    kafkaSaslUsername: string('PF_KAFKA_SASL_USERNAME', ''),
    kafkaSaslPassword: secret('PF_KAFKA_SASL_PASSWORD'),
    kafkaSaslPasswordFile: secretFile('PF_KAFKA_SASL_PASSWORD_FILE'),
    kafkaSslCaFile: pemCertificates('PF_KAFKA_SSL_CA_FILE'),
    registryUrl: url('PF_REGISTRY_URL', ['http', 'https'], 'http://127.0.0.1:18081/apis/ccompat/v7'),
    registryUsername: string('PF_REGISTRY_USERNAME', ''),
    registryPassword: secret('PF_REGISTRY_PASSWORD'),
    registryPasswordFile: secretFile('PF_REGISTRY_PASSWORD_FILE'),
    registryCaFile: pemCertificates('PF_REGISTRY_CA_FILE'),
  };
}

export type LinkConfig = ConfigOf<ReturnType<typeof linkConfigSpec>>;

/** What is wrong between the link variables (each message names them, never a value of a secret). */
export function linkConfigProblems(config: LinkConfig): string[] {
  const problems: string[] = [];
  const protocol = config.kafkaSecurityProtocol;
  const kafkaCredentials = [
    config.kafkaSaslUsername !== '' && 'PF_KAFKA_SASL_USERNAME',
    config.kafkaSaslPassword !== '' && 'PF_KAFKA_SASL_PASSWORD',
    config.kafkaSaslPasswordFile !== '' && 'PF_KAFKA_SASL_PASSWORD_FILE',
  ].filter((name): name is string => name !== false);
  if (protocol === 'sasl_ssl') {
    if (config.kafkaSaslUsername === '') {
      problems.push('PF_KAFKA_SASL_USERNAME is required when PF_KAFKA_SECURITY_PROTOCOL is sasl_ssl');
    }
    if (config.kafkaSaslPassword === '' && config.kafkaSaslPasswordFile === '') {
      problems.push(
        'PF_KAFKA_SASL_PASSWORD or PF_KAFKA_SASL_PASSWORD_FILE is required when PF_KAFKA_SECURITY_PROTOCOL is sasl_ssl',
      );
    }
  } else if (kafkaCredentials.length > 0) {
    problems.push(
      `${kafkaCredentials.join(', ')} set but PF_KAFKA_SECURITY_PROTOCOL is ${protocol}: SASL credentials are only sent over TLS, set PF_KAFKA_SECURITY_PROTOCOL=sasl_ssl`,
    );
  }
  if (config.kafkaSaslPassword !== '' && config.kafkaSaslPasswordFile !== '') {
    problems.push('set only one of PF_KAFKA_SASL_PASSWORD and PF_KAFKA_SASL_PASSWORD_FILE');
  }
  if (protocol === 'plaintext' && config.kafkaSslCaFile !== undefined) {
    problems.push(
      'PF_KAFKA_SSL_CA_FILE is set but PF_KAFKA_SECURITY_PROTOCOL is plaintext: set ssl or sasl_ssl to use TLS',
    );
  }

  const registry = new URL(config.registryUrl);
  const registryPassword = config.registryPassword !== '' || config.registryPasswordFile !== '';
  if (registry.username !== '' || registry.password !== '') {
    problems.push(
      `PF_REGISTRY_URL must not carry credentials (got "${redactUrl(config.registryUrl)}"): set PF_REGISTRY_USERNAME and PF_REGISTRY_PASSWORD`,
    );
  }
  if (config.registryPassword !== '' && config.registryPasswordFile !== '') {
    problems.push('set only one of PF_REGISTRY_PASSWORD and PF_REGISTRY_PASSWORD_FILE');
  }
  if (config.registryUsername !== '' && !registryPassword) {
    problems.push('PF_REGISTRY_USERNAME is set without PF_REGISTRY_PASSWORD or PF_REGISTRY_PASSWORD_FILE');
  }
  if (config.registryUsername === '' && registryPassword) {
    problems.push('PF_REGISTRY_PASSWORD is set without PF_REGISTRY_USERNAME');
  }
  if (registry.protocol === 'http:' && (config.registryUsername !== '' || registryPassword)) {
    problems.push(
      `PF_REGISTRY_USERNAME and PF_REGISTRY_PASSWORD are only sent over https, but PF_REGISTRY_URL is ${config.registryUrl}`,
    );
  }
  if (registry.protocol === 'http:' && config.registryCaFile !== undefined) {
    problems.push(`PF_REGISTRY_CA_FILE is set but PF_REGISTRY_URL is http: use an https URL`);
  }
  return problems;
}

/** The brokers and the security of the Kafka link, for createKafka. */
export function kafkaLinkOf(config: LinkConfig): { brokers: readonly string[]; security: KafkaSecurity } {
  const ca = config.kafkaSslCaFile?.pem;
  const security: KafkaSecurity =
    config.kafkaSecurityProtocol === 'plaintext'
      ? { protocol: 'plaintext' }
      : config.kafkaSecurityProtocol === 'ssl'
        ? { protocol: 'ssl', ...(ca === undefined ? {} : { ca }) }
        : {
            protocol: 'sasl_ssl',
            ...(ca === undefined ? {} : { ca }),
            sasl: {
              mechanism: config.kafkaSaslMechanism,
              username: config.kafkaSaslUsername,
              password: config.kafkaSaslPassword || config.kafkaSaslPasswordFile,
            },
          };
  return { brokers: config.brokers, security };
}

/** The registry link, for createSchemaCodec (or confluentRegistryArgs). */
export function registryLinkOf(config: LinkConfig): RegistryLink {
  const password = config.registryPassword || config.registryPasswordFile;
  return {
    url: config.registryUrl,
    ...(config.registryUsername === '' ? {} : { username: config.registryUsername, password }),
    ...(config.registryCaFile === undefined ? {} : { ca: config.registryCaFile.pem }),
  };
}

/**
 * What a logger must scrub for a config that holds the link settings: the passwords, and
 * the registry's basic-auth token (what an Authorization header carries, should a library
 * error ever include one).
 */
export function linkSecrets(config: LinkConfig): readonly string[] {
  const secrets = [...configSecrets(config)];
  const password = config.registryPassword || config.registryPasswordFile;
  if (config.registryUsername !== '' && password !== '') {
    secrets.push(Buffer.from(`${config.registryUsername}:${password}`).toString('base64'));
  }
  return secrets;
}

export interface Links {
  kafka: { brokers: readonly string[]; security: KafkaSecurity };
  registry: RegistryLink;
  /** For createLogger's `secrets`. */
  secrets: readonly string[];
}

/**
 * The Kafka and registry links from the environment, validated (PF_CONFIG_INVALID naming
 * every bad variable): for tools and the CLI, which read no stage settings.
 */
export function linksFromEnv(env: Env = process.env): Links {
  const config = loadConfig(linkConfigSpec(), env, [(c) => linkConfigProblems(c).join('; ') || undefined]);
  return { kafka: kafkaLinkOf(config), registry: registryLinkOf(config), secrets: linkSecrets(config) };
}

// ------------------------------------------------------------------------------ PostgreSQL

/** sslmode values and what they do here: TLS is either off or verified, never opportunistic. */
const PG_SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
type PgSslMode = (typeof PG_SSL_MODES)[number];

/** PF_PG_URL (sslmode in the URL, libpq style) and PF_PG_CA_FILE. */
export function postgresConfigSpec() {
  return {
    pgUrl: url(
      'PF_PG_URL',
      ['postgres', 'postgresql'],
      'postgres://patternflow:patternflow@127.0.0.1:15432/patternflow',
    ),
    pgCaFile: pemCertificates('PF_PG_CA_FILE'),
  };
}

export type PostgresConfig = ConfigOf<ReturnType<typeof postgresConfigSpec>>;

function sslModeOf(pgUrl: string): string | undefined {
  return new URL(pgUrl).searchParams.get('sslmode') ?? undefined;
}

export function postgresConfigProblems(config: PostgresConfig): string[] {
  const problems: string[] = [];
  const params = new URL(config.pgUrl).searchParams;
  const mode = sslModeOf(config.pgUrl);
  const foreign = ['ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslpassword', 'uselibpqcompat'].filter(
    (name) => params.has(name),
  );
  if (foreign.length > 0) {
    problems.push(
      `PF_PG_URL has ${foreign.join(', ')}: say TLS with sslmode (${PG_SSL_MODES.join(', ')}) and the CA with PF_PG_CA_FILE`,
    );
  }
  if (mode !== undefined && !(PG_SSL_MODES as readonly string[]).includes(mode)) {
    problems.push(
      `PF_PG_URL has sslmode=${mode}, which is refused: use ${PG_SSL_MODES.join(', ')} (allow and prefer fall back to plaintext, no-verify trusts any certificate)`,
    );
  }
  if (config.pgCaFile !== undefined && mode === 'disable') {
    problems.push('PF_PG_CA_FILE is set but PF_PG_URL has sslmode=disable: a CA is only used with TLS');
  }
  return problems;
}

/**
 * The pg Pool options for PF_PG_URL: the connection string without its sslmode (pg would
 * let the URL's TLS settings replace ours) and the TLS options. require and verify-full
 * verify the chain and the host name (as pg does, unlike libpq's require), verify-ca the
 * chain only; the CA is PF_PG_CA_FILE, or Node's roots. A URL without sslmode is
 * plaintext, unless PF_PG_CA_FILE is set: then it is verify-full.
 */
export function postgresPoolOptions(config: PostgresConfig): {
  connectionString: string;
  ssl: false | ConnectionOptions;
} {
  const parsed = new URL(config.pgUrl);
  const mode = (sslModeOf(config.pgUrl) ??
    (config.pgCaFile === undefined ? 'disable' : 'verify-full')) as PgSslMode;
  parsed.searchParams.delete('sslmode');
  const connectionString = parsed.toString();
  if (mode === 'disable') return { connectionString, ssl: false };
  return {
    connectionString,
    ssl: {
      rejectUnauthorized: true,
      ...(config.pgCaFile === undefined ? {} : { ca: config.pgCaFile.pem }),
      ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    },
  };
}
