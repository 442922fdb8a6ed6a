/**
 * What a replica writes to the control topic it follows (its acknowledgement, a seed, the
 * removal of stale acknowledgements): rare writes, kept in order, one transaction each. A
 * write that fails is logged and dropped, never failing the replica's own work: its next
 * acknowledgement says again where it stands.
 */
import { type ControlMessage, type Kafka, openTransactionalWriter } from '@patternflow/kafka';
import type { Logger } from '@patternflow/observability';

export interface ReplicaWriter {
  /** Writes `messages` after every earlier write; settles once written, or once the failure is logged. */
  write(messages: ControlMessage[], what: string): Promise<void>;
  close(): Promise<void>;
}

export function openReplicaWriter(options: {
  kafka: Kafka;
  /** Stable per replica: a second writer with the same id fences the first. */
  transactionalId: string;
  logger: Logger;
  /** The topic in the failure's log line: "the control topic", "the models control topic". */
  topic: string;
}): ReplicaWriter {
  const writer = openTransactionalWriter({ kafka: options.kafka, transactionalId: options.transactionalId });
  let writes: Promise<void> = Promise.resolve();
  return {
    write(messages, what) {
      writes = writes.then(() =>
        writer.write(messages).catch((error: unknown) => {
          options.logger.warn({ err: error, what }, `could not write to ${options.topic}`);
        }),
      );
      return writes;
    },
    close: () => writer.close(),
  };
}
