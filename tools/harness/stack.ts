import { randomUUID } from 'node:crypto';

/** Connection settings of the local stack, as exported by `scripts/stack.sh env`. */
export const stack = {
  brokers: (process.env.PF_KAFKA_BROKERS ?? '127.0.0.1:19092').split(','),
  registryUrl: process.env.PF_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7',
  pgUrl: process.env.PF_PG_URL ?? 'postgres://patternflow:patternflow@127.0.0.1:15432/patternflow',
  kafkaHome: process.env.PF_KAFKA_HOME ?? '',
  /** The broker's log directory (fault tests corrupt a segment in it). */
  kafkaData: process.env.PF_KAFKA_DATA ?? '',
};

/** Every test gets its own topic and group names so that tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}.${randomUUID().slice(0, 8)}`;
}
