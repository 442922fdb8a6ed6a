import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';

/**
 * Consecutive checks that may fail while a pause stands. A pause the monitor can no longer
 * verify (ACLs changed, a broker refusing OffsetFetch) would otherwise hold the stage for
 * good while it looks healthy; Kafka itself is a durable buffer, so past this the pause is
 * released and the stage consumes until a measurement succeeds again.
 */
export const PAUSE_KEPT_FOR_FAILED_CHECKS = 30;

export interface BacklogLimit {
  /** The consumer group that reads our output. */
  downstreamGroupId: string;
  /** Our output topics that the downstream group reads. */
  downstreamTopics: readonly string[];
  /** Pause when the downstream group is more than this many records behind… */
  pauseWhenBacklogAbove: number;
  /** …and resume once it is back under this many. */
  resumeWhenBacklogBelow: number;
  checkIntervalMs: number;
}

/**
 * Measures how far the next stage is behind on what we produce for it. Kafka would take
 * any amount; this keeps the backlog between two stages bounded, so a stalled sink
 * pauses the router, whose growing backlog pauses the tagger, and so on upstream.
 */
export function createBacklogMonitor(options: {
  kafka: Kafka;
  limit: BacklogLimit;
  logger: Logger;
  onChange: (overLimit: boolean) => void;
}) {
  const { limit, logger } = options;
  const admin = options.kafka.admin();
  let timer: NodeJS.Timeout | undefined;
  let connected = false;
  let over = false;
  let running = false;
  // Records we produced for the downstream stage: between two measurements, the backlog
  // is at most the last measurement plus these, so a fast stage pauses without waiting
  // for the next poll.
  let produced = 0;
  let estimate = 0;

  const evaluate = () => {
    if (!over && estimate > limit.pauseWhenBacklogAbove) {
      over = true;
      logger.warn(
        { backlog: estimate, downstream: limit.downstreamGroupId },
        'downstream backlog over the limit',
      );
      options.onChange(true);
    } else if (over && estimate < limit.resumeWhenBacklogBelow) {
      over = false;
      logger.info({ backlog: estimate, downstream: limit.downstreamGroupId }, 'downstream backlog drained');
      options.onChange(false);
    }
  };

  async function measure(): Promise<number> {
    if (!connected) {
      await admin.connect();
      connected = true;
    }
    let backlog = 0;
    const committed = await admin.fetchOffsets({
      groupId: limit.downstreamGroupId,
      topics: [...limit.downstreamTopics],
    });
    for (const { topic, partitions } of committed) {
      const ends = await admin.fetchTopicOffsets(topic);
      for (const end of ends) {
        const done = partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
        const from = Number(done) >= 0 ? Number(done) : Number(end.low);
        backlog += Math.max(0, Number(end.high) - from);
      }
    }
    return backlog;
  }

  let failedChecks = 0;
  async function check(): Promise<void> {
    try {
      const producedBefore = produced;
      const backlog = await measure();
      failedChecks = 0;
      estimate = backlog + (produced - producedBefore);
      evaluate();
    } catch (error) {
      // Not knowing the backlog is not a reason to stop or to start consuming, for a while.
      failedChecks += 1;
      logger.warn({ err: error, failedChecks }, 'could not measure the downstream backlog');
      if (over && failedChecks >= PAUSE_KEPT_FOR_FAILED_CHECKS) {
        over = false;
        estimate = 0;
        logger.warn(
          { failedChecks, downstream: limit.downstreamGroupId },
          'downstream backlog unknown for too long: releasing the pause',
        );
        options.onChange(false);
      }
    }
  }

  const loop = async () => {
    if (!running) return;
    await check();
    if (running) timer = setTimeout(loop, limit.checkIntervalMs);
  };

  return {
    /** Measures once before the stage consumes anything, then every checkIntervalMs. */
    async start() {
      running = true;
      await check();
      timer = setTimeout(loop, limit.checkIntervalMs);
    },
    noteProduced(count: number) {
      produced += count;
      estimate += count;
      evaluate();
    },
    stop() {
      running = false;
      if (timer) clearTimeout(timer);
      if (connected) admin.disconnect().catch(() => {});
    },
    measure,
  };
}
