import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@patternflow/config';
import type { KafkaSecurity } from '@patternflow/kafka';
import type { RegistryLink } from '@patternflow/registry';
import {
  type Links,
  linksFromEnv,
  postgresConfigProblems,
  postgresConfigSpec,
  postgresPoolOptions,
} from '@patternflow/service';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The pg Pool options (connection string and TLS) of a PF_PG_URL / PF_PG_CA_FILE environment. */
function postgresOf(env: Record<string, string | undefined>) {
  const config = loadConfig(postgresConfigSpec(), env, [
    (c) => postgresConfigProblems(c).join('; ') || undefined,
  ]);
  return postgresPoolOptions(config);
}

const links: Links = linksFromEnv(process.env);

/**
 * Connection settings of the local stack, as exported by `scripts/stack.sh env` (plaintext)
 * or `scripts/stack.sh env --secure`: the same variables the services read, read the same way.
 */
export const stack = {
  brokers: [...links.kafka.brokers],
  /** TLS and SASL for createKafka, from PF_KAFKA_SECURITY_PROTOCOL and friends (plaintext by default). */
  kafkaSecurity: links.kafka.security,
  registryUrl: links.registry.url,
  registry: links.registry,
  pgUrl: process.env.PF_PG_URL ?? 'postgres://patternflow:patternflow@127.0.0.1:15432/patternflow',
  /** pg Pool options for PF_PG_URL and PF_PG_CA_FILE (TLS when the URL's sslmode asks for it). */
  pg: postgresOf(process.env),
  kafkaHome: process.env.PF_KAFKA_HOME ?? '',
  /** The broker's log directory (fault tests corrupt a segment in it). */
  kafkaData: process.env.PF_KAFKA_DATA ?? '',
};

/** The stack over its secure links, for services (env) and for a test's own clients. */
export interface SecureStack {
  /** PF_* variables for the services: Kafka SASL_SSL, the https registry with basic auth, PostgreSQL with TLS. */
  env: Record<string, string>;
  kafka: { brokers: readonly string[]; security: KafkaSecurity };
  registry: RegistryLink;
  pg: ReturnType<typeof postgresOf>;
  /** The passwords and tokens of these links: what no log line may contain. */
  secrets: readonly string[];
}

/**
 * The secure links of the local stack: `scripts/stack.sh up` writes their settings to
 * $PF_STACK_SECURE_ENV (exported by `stack.sh env`; .stack/tls/client.env by default),
 * passwords by file. Throws a message saying what to do when the stack has none.
 */
export function secureStack(): SecureStack {
  const file = process.env.PF_STACK_SECURE_ENV ?? `${ROOT}.stack/tls/client.env`;
  if (!existsSync(file)) {
    throw new Error(`no settings of the stack's secure links at ${file}: start the stack with 'make up'`);
  }
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^(PF_[A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!;
  }
  const secure = linksFromEnv(env);
  return {
    env,
    kafka: secure.kafka,
    registry: secure.registry,
    pg: postgresOf(env),
    secrets: secure.secrets,
  };
}

/** Every test gets its own topic and group names so that tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}.${randomUUID().slice(0, 8)}`;
}
