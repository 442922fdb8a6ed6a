import {
  locateUnreadableBatch,
  type StageRunner,
  type StageRunnerOptions,
  type UnreadableRange,
} from '@patternflow/kafka';
import type { Logger, StageMetrics } from '@patternflow/observability';
import type { Kafka } from 'kafkajs';

export interface UnreadableBatchDeps {
  kafka: Kafka;
  groupId: string;
  /** The assignment of the runner that could not read. */
  assignment: Readonly<Record<string, readonly number[]>>;
  /** Starts a runner on the stage's topics, with extra options (the careful `stopBefore`). */
  startRunner(extra?: Pick<StageRunnerOptions, 'stopBefore'>): Promise<StageRunner>;
  metrics: StageMetrics;
  logger: Logger;
  /** True once the stage is stopping: the wait ends. */
  stopped(): boolean;
  /** Namespace-free command line an operator runs to skip, for the log. */
  skipCommand(range: UnreadableRange): string;
  pollMs?: number;
}

/**
 * What a stage does when its consumer cannot read a fetched batch, instead of exiting into
 * a crash loop (a restart would fetch the same batch): locate the unreadable range, consume
 * the readable records in front of it (one batch per fetch, stopping short of it), report it
 * — `pf_unreadable_batch{topic,partition,from,to}` = 1, readiness failing, an alert — and
 * wait until an operator has skipped it (`scripts/skip-batch.ts`, which records the skip
 * before it moves the group's offset). Resolves once the group is past the range; rejects
 * when the range cannot be located (the caller treats that as fatal).
 */
export async function waitOutUnreadableBatch(deps: UnreadableBatchDeps): Promise<void> {
  const { kafka, groupId, logger, metrics } = deps;
  const range = await locateUnreadableBatch({ kafka, groupId, assignment: deps.assignment, logger });
  if (range === undefined)
    throw new Error('the consumer could not read a batch, and no partition reproduces it');
  const labels = { topic: range.topic, partition: String(range.partition), from: range.from, to: range.to };
  metrics.unreadableBatch.set(labels, 1);
  try {
    if ((await committedOffset(kafka, groupId, range)) < BigInt(range.from)) {
      const careful = await deps.startRunner({
        stopBefore: { topic: range.topic, partition: range.partition, offset: range.from },
      });
      await Promise.race([careful.reachedStop, careful.failed, careful.unreadable]);
      // stop() commits what was processed and leaves the group, so that the skip can move it.
      await careful.stop();
    }
    logger.error(
      { ...range, groupId, skip: deps.skipCommand(range) },
      'stage stopped in front of an unreadable batch; it resumes once the batch is skipped',
    );
    const pollMs = deps.pollMs ?? 5_000;
    while (!deps.stopped()) {
      if ((await committedOffset(kafka, groupId, range).catch(() => -1n)) >= BigInt(range.to)) {
        logger.info({ ...range, groupId }, 'the unreadable batch was skipped: resuming');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  } finally {
    metrics.unreadableBatch.set(labels, 0);
  }
}

async function committedOffset(kafka: Kafka, groupId: string, range: UnreadableRange): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [topic] = await admin.fetchOffsets({ groupId, topics: [range.topic] });
    return BigInt(topic?.partitions.find((p) => p.partition === range.partition)?.offset ?? '-1');
  } finally {
    await admin.disconnect();
  }
}
