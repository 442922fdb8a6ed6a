import type { KafkaConfig, SASLOptions } from 'kafkajs';

/**
 * How a client talks to the brokers. There is deliberately no `sasl_plaintext`: credentials
 * only ever travel over TLS, and a client set up for TLS never falls back to plaintext.
 */
export const KAFKA_SECURITY_PROTOCOLS = ['plaintext', 'ssl', 'sasl_ssl'] as const;
export type KafkaSecurityProtocol = (typeof KAFKA_SECURITY_PROTOCOLS)[number];

export const KAFKA_SASL_MECHANISMS = ['scram-sha-512', 'scram-sha-256', 'plain'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** The security of a Kafka link, as plain data (libs/service builds it from the PF_KAFKA_* variables). */
export type KafkaSecurity =
  | { readonly protocol: 'plaintext' }
  | {
      readonly protocol: 'ssl';
      /** PEM certificates to trust instead of Node's built-in roots. */
      readonly ca?: string;
    }
  | {
      readonly protocol: 'sasl_ssl';
      readonly ca?: string;
      readonly sasl: {
        readonly mechanism: KafkaSaslMechanism;
        readonly username: string;
        readonly password: string;
      };
    };

export const PLAINTEXT: KafkaSecurity = Object.freeze({ protocol: 'plaintext' });

/**
 * kafkajs's `ssl` and `sasl` options. The broker's certificate is always verified
 * (chain and host name); there is no switch to turn that off.
 */
export function kafkajsSecurity(security: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  if (security.protocol === 'plaintext') return {};
  const ssl = {
    rejectUnauthorized: true,
    ...(security.ca === undefined ? {} : { ca: [security.ca] }),
  };
  if (security.protocol === 'ssl') return { ssl };
  const { mechanism, username, password } = security.sasl;
  return { ssl, sasl: { mechanism, username, password } as SASLOptions };
}
