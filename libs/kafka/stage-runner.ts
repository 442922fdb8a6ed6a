import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import { type StageMetrics, traceIdOf } from '@patternflow/observability';
import {
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  type Message,
  Partitioners,
  type Producer,
  type TopicMessages,
} from 'kafkajs';
import type { Logger } from 'pino';
import { type BacklogLimit, createBacklogMonitor } from './backlog.ts';
import { createBatcher } from './batcher.ts';
import { compressionTypeOf, type OutputCompression } from './codecs.ts';
import { toDeadLetterMessage } from './dead-letter.ts';
import { isUnreadableBatch, kafkaFailure } from './kafka-errors.ts';
import { type InboundRecord, type OutboundMessage, type StageHandler, toInboundRecord } from './records.ts';

export interface StageRunnerOptions {
  stage: string;
  kafka: Kafka;
  groupId: string;
  topics: readonly string[];
  /**
   * Topics of the expedited lane, among `topics`: their chunks never wait behind the other
   * topics' chunks, and the downstream-backlog pause does not hold them.
   */
  priorityTopics?: readonly string[];
  dlqTopic: string;
  handler: StageHandler;
  logger: Logger;
  metrics: StageMetrics;
  /** Records handed to the handler at once; offsets are resolved per chunk. */
  maxBatchRecords: number;
  /** Partitions processed at the same time (each holds at most one chunk in flight). */
  partitionsConsumedConcurrently: number;
  /** Upper bound on bytes fetched per request: with one chunk per partition, this bounds memory. */
  maxFetchBytes: number;
  sessionTimeoutMs: number;
  /** Codec of the batches this stage produces (outputs and dead letters). */
  compression: OutputCompression;
  /** Pause while a downstream consumer group is this far behind on our output topics. */
  backlog?: BacklogLimit;
  /** Retries of a failure whose disposition is 'retry' back off from this delay, doubling up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Acknowledged offsets are committed this often, off the processing path (default 1000). */
  commitIntervalMs?: number;
  now?: () => number;
  /**
   * Read one batch per partition per fetch and stop short of this offset of this partition:
   * how a stage consumes the readable records in front of an unreadable batch (a normal
   * fetch fails as a whole, readable records included). `reachedStop` settles there.
   */
  stopBefore?: { topic: string; partition: number; offset: string };
}

export interface StageRunner {
  start(): Promise<void>;
  /** Finishes the chunk in flight, commits what was acknowledged, leaves the group. */
  stop(): Promise<void>;
  isReady(): boolean;
  /** Settles when the runner fails for good (a fatal failure, see libs/errors): exit non-zero. */
  readonly failed: Promise<Error>;
  /**
   * Settles when the consumer cannot read a fetched batch (a corrupt batch, a codec it does
   * not have). No record caused it and a restart would fetch the same batch again, so this
   * is not `failed`: the stage stays up, not ready, until an operator skips the batch.
   */
  readonly unreadable: Promise<Error>;
  /** The partitions of the last group join. */
  assignment(): Readonly<Record<string, readonly number[]>>;
  /** With `stopBefore`: settles once everything before that offset is processed and committed. */
  readonly reachedStop: Promise<void>;
}

class StopRequested extends Error {}

/**
 * Chunks are merged into one produce request up to this many value bytes (a single chunk may
 * be larger). Brokers refuse a record batch over message.max.bytes (1 MiB by default), and one
 * request holds one batch per partition: half of that limit leaves room when uncompressed.
 */
const MAX_REQUEST_VALUE_BYTES = 512 * 1024;

/**
 * Consumes `topics` with at-least-once delivery: a chunk's offsets are resolved only
 * after everything it produced (outputs and DLQ records) was acknowledged by Kafka with
 * acks=all, or after the handler's own durable write. A crash anywhere before that
 * replays the chunk; nothing is skipped. Duplicates are absorbed by the idempotent sink.
 */
export function createStageRunner(options: StageRunnerOptions): StageRunner {
  const { stage, kafka, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const retryDelayMs = options.retryDelayMs ?? 200;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 5000;
  const compression = compressionTypeOf(options.compression);
  const commitIntervalMs = options.commitIntervalMs ?? 1000;

  const heartbeatIntervalMs = Math.max(500, Math.floor(options.sessionTimeoutMs / 10));
  const priorityTopics = new Set(options.priorityTopics ?? []);
  const hasPriority = options.topics.some((topic) => priorityTopics.has(topic));
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: heartbeatIntervalMs,
    // One batch per partition per fetch (brokers return at least one whole batch) in front
    // of an unreadable batch.
    maxBytes: options.stopBefore ? 1 : options.maxFetchBytes,
    maxBytesPerPartition: options.stopBefore ? 1 : Math.max(1024 * 64, Math.floor(options.maxFetchBytes / 4)),
    // A fetch waits this long for data when there is none. Beside an expedited lane, the
    // normal lane's partitions are resumed while a fetch is waiting and join only the next
    // one: a short wait keeps them from idling up to this long after every batch.
    maxWaitTimeInMs: hasPriority ? 10 : 100,
    // A fetch that keeps failing crashes the consumer within ~10 s: kafkajs restarts it (an
    // outage), or the runner reports an unreadable batch (a restart would not help).
    retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
  });
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
    // Murmur2 on the key, as Java clients do: one record id always lands on one partition.
    createPartitioner: Partitioners.DefaultPartitioner,
    // Bounded, so that an output that stays unavailable surfaces as KAFKA_UNAVAILABLE and
    // the runner pauses the consumer and retries the chunk with backoff (heartbeating).
    // A resend after a failure can duplicate records: at-least-once, absorbed by the sink.
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5000 },
  });

  let ready = false;
  let stopping = false;
  let failWith: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => {
    failWith = resolve;
  });
  let unreadableWith: (error: Error) => void = () => {};
  const unreadable = new Promise<Error>((resolve) => {
    unreadableWith = resolve;
  });
  let assignment: Readonly<Record<string, readonly number[]>> = {};
  // Errors our eachBatch threw back to kafkajs: a crash with one of them is ours, not the client's.
  const thrownByHandler = new WeakSet<object>();
  let reachedStopWith: () => void = () => {};
  const reachedStop = new Promise<void>((resolve) => {
    reachedStopWith = resolve;
  });
  const stopBefore = options.stopBefore;
  const stopOffset = stopBefore ? BigInt(stopBefore.offset) : 0n;

  // Offsets are committed by this runner, not by kafkajs: with autoCommit kafkajs sends an
  // OffsetCommit after every batch and waits for it (one group-coordinator write, 6–11 ms on
  // the local broker) before the partition is fetched again, which was most of a hop's
  // latency at low load. Here a chunk's next offset is recorded once its output is
  // acknowledged, and a timer commits what was recorded: the at-least-once line is unchanged
  // (nothing is committed before its ack), a crash replays at most one interval.
  const acknowledged = new Map<string, { topic: string; partition: number; offset: string }>();
  let commitTimer: NodeJS.Timeout | undefined;
  let committing: Promise<boolean> | undefined;
  let inFlightBatches = 0;
  // Bumped by every group join: a chunk that finishes after one does not resolve its offset.
  let generation = 0;
  let batchesDrained: (() => void) | undefined;
  const batchDone = () => {
    inFlightBatches -= 1;
    if (inFlightBatches === 0) batchesDrained?.();
  };
  /** Commits what is recorded; resolves false when the commit failed (the offsets are kept). */
  const commitAcknowledged = (): Promise<boolean> => {
    if (committing) return committing;
    if (acknowledged.size === 0) return Promise.resolve(true);
    const offsets = [...acknowledged.values()];
    acknowledged.clear();
    committing = consumer
      .commitOffsets(offsets)
      .then(
        () => true,
        (error: unknown) => {
          // Kept for the next attempt unless a newer offset of the partition was recorded since.
          for (const entry of offsets) {
            const key = `${entry.topic}|${entry.partition}`;
            if (!acknowledged.has(key)) acknowledged.set(key, entry);
          }
          logger.warn({ err: error }, 'offset commit failed; retried at the next interval');
          return false;
        },
      )
      .finally(() => {
        committing = undefined;
      });
    return committing;
  };
  /** Every offset recorded so far, committed (or one failed attempt). */
  const commitAllAcknowledged = async (): Promise<void> => {
    if (committing) await committing;
    await commitAcknowledged();
  };

  // Why the consumer is paused, per holder (the backlog monitor, each partition retrying a
  // chunk) with the reason it exports; the consumer runs only when no holder is left.
  const pauseReasons = new Map<string, string>();
  // Every reason ever exported: one that is lifted must read 0, not keep its last value.
  const exportedReasons = new Set<string>();
  // Partitions held paused one by one: a normal-lane partition whose batch is being handled
  // in the background (see eachBatch), and the partition stopped short of an unreadable batch.
  const heldPartitions = new Map<string, Set<number>>();
  const holdPartition = (topic: string, partition: number, on: boolean) => {
    let held = heldPartitions.get(topic);
    if (!held) {
      held = new Set();
      heldPartitions.set(topic, held);
    }
    if (on) held.add(partition);
    else held.delete(partition);
    applyPauseState();
  };
  // kafkajs refuses pause() before run() and forgets it when a crashed consumer restarts,
  // so the state is applied now if possible and again on every group join.
  const applyPauseState = () => {
    // The downstream backlog holds the normal lane only: the expedited lane is small by
    // design and must not wait behind the bulk backlog it exists to bypass.
    const backlogOnly = pauseReasons.size === 1 && pauseReasons.has('downstream-backlog');
    try {
      for (const topic of options.topics) {
        const pauseAll = pauseReasons.size > 0 && !(backlogOnly && priorityTopics.has(topic));
        if (pauseAll) {
          consumer.pause([{ topic }]);
          continue;
        }
        consumer.resume([{ topic }]);
        const held = heldPartitions.get(topic);
        if (held && held.size > 0) consumer.pause([{ topic, partitions: [...held] }]);
      }
    } catch (error) {
      logger.debug({ err: error }, 'pause state applied at the next group join');
    }
  };
  const exportPauseReasons = () => {
    const holders = new Map<string, number>();
    for (const reason of pauseReasons.values()) holders.set(reason, (holders.get(reason) ?? 0) + 1);
    for (const reason of holders.keys()) exportedReasons.add(reason);
    for (const reason of exportedReasons) metrics.pauseReasons.set({ reason }, holders.get(reason) ?? 0);
  };
  /** `reason` is what operators see (pf_consumer_pause_reason): the holder's kind, or an error code. */
  const setPaused = (holder: string, on: boolean, reason: string = holder) => {
    const wasPaused = pauseReasons.size > 0;
    if (on) pauseReasons.set(holder, reason);
    else pauseReasons.delete(holder);
    exportPauseReasons();
    const isPaused = pauseReasons.size > 0;
    if (isPaused === wasPaused) return;
    applyPauseState();
    metrics.paused.set(isPaused ? 1 : 0);
    logger.info(
      { reasons: [...new Set(pauseReasons.values())], paused: isPaused },
      isPaused ? 'consumer paused' : 'consumer resumed',
    );
  };

  const backlog = options.backlog
    ? createBacklogMonitor({
        kafka,
        limit: options.backlog,
        logger,
        onChange: (over) => setPaused('downstream-backlog', over),
      })
    : undefined;

  const backlogTopics = new Set(options.backlog?.downstreamTopics ?? []);

  // The chunks of the partitions processed at once share one produce request: one request
  // per fetch instead of one per partition, and a lone chunk is sent at once (see batcher.ts).
  // The expedited lane has its own: its records never wait for a normal-lane request in flight.
  const producerBatcher = () =>
    createBatcher<OutboundMessage, true>({
      maxSize: MAX_REQUEST_VALUE_BYTES,
      sizeOf: (message) => message.value.length + 64,
      // Full requests pipeline, as the separate sends of concurrent chunks did.
      maxInFlight: 3,
      run: async (messages) => {
        await sendAll(messages);
        return messages.map(() => true as const);
      },
    });
  const produce = producerBatcher();
  const produceExpedited = producerBatcher();

  async function deliver(messages: OutboundMessage[], expedited: boolean): Promise<void> {
    if (messages.length === 0) return;
    await (expedited ? produceExpedited : produce).submit(messages);
    const counts = new Map<string, number>();
    for (const message of messages) counts.set(message.topic, (counts.get(message.topic) ?? 0) + 1);
    for (const [topic, count] of counts) {
      metrics.recordsOut.inc({ topic }, count);
      if (backlogTopics.has(topic)) backlog?.noteProduced(count);
    }
  }

  async function sendAll(messages: OutboundMessage[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const message of messages) {
      let list = byTopic.get(message.topic);
      if (!list) {
        list = [];
        byTopic.set(message.topic, list);
      }
      list.push({ key: message.key, value: message.value, headers: message.headers });
    }
    const topicMessages: TopicMessages[] = [];
    for (const [topic, list] of byTopic) topicMessages.push({ topic, messages: list });
    await producer.sendBatch({ topicMessages, acks: -1, compression });
  }

  /** Handles one chunk and delivers its output; retries 'retry' failures until stopped. */
  async function processChunk(records: InboundRecord[], payload: EachBatchPayload): Promise<void> {
    const retryReason = `retrying:${payload.batch.topic}:${payload.batch.partition}`;
    try {
      await processChunkWithRetries(records, payload, retryReason);
    } finally {
      // Whatever ends the retries (success, stop, rebalance), this partition no longer
      // holds the consumer paused.
      setPaused(retryReason, false);
    }
  }

  async function processChunkWithRetries(
    records: InboundRecord[],
    payload: EachBatchPayload,
    retryReason: string,
  ): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (stopping || !payload.isRunning() || payload.isStale()) throw new StopRequested();
      const started = process.hrtime.bigint();
      // A slow handler (a database write waiting on a lock) must not cost the partition
      // its group membership: heartbeat while it runs. kafkajs only heartbeats between
      // batches on its own.
      const heartbeats = setInterval(() => {
        payload.heartbeat().catch(() => {});
      }, heartbeatIntervalMs);
      try {
        const result = await options.handler(records);
        const at = now();
        const dead = result.deadLetters.map(({ record, error }) => {
          metrics.deadLettered.inc({ reason: error.code });
          logger.warn(
            {
              reason: error.code,
              topic: record.topic,
              partition: record.partition,
              offset: record.offset,
              trace_id: traceIdOf(record.headers.traceparent),
              details: error.details,
            },
            `dead-lettered: ${error.message}`,
          );
          return toDeadLetterMessage(options.dlqTopic, stage, record, error, at);
        });
        // Still heartbeating: a slow produce (an output partition without a leader) is
        // waiting too.
        await deliver(
          dead.length === 0 ? result.messages : [...result.messages, ...dead],
          priorityTopics.has(records[0]!.topic),
        );
        clearInterval(heartbeats);
        metrics.processingSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        metrics.batchSize.observe(records.length);
        return;
      } catch (error) {
        clearInterval(heartbeats);
        const failure = kafkaFailure(error) ?? error;
        if (!(failure instanceof PipelineError) || dispositionOf(failure) === 'fatal') throw error;
        if (dispositionOf(failure) === 'dead-letter') {
          // A handler must dead-letter bad records itself; one escaping means it could not
          // tell which record was bad, which is a bug, not bad input: a plain Error, fatal.
          throw new Error(`handler threw a record error for a whole chunk: ${failure.message}`, {
            cause: failure,
          });
        }
        attempt += 1;
        const reason = failure.code;
        metrics.retries.inc({ reason });
        // Stop fetching while the output is unavailable, but keep heartbeating so the
        // group does not rebalance a partition that is merely waiting.
        setPaused(retryReason, true, reason);
        const delay = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.min(attempt - 1, 10));
        logger.warn({ err: error, attempt, delayMs: delay, reason }, 'retriable failure; retrying the chunk');
        await sleepWithHeartbeat(delay, payload);
      }
    }
  }

  async function sleepWithHeartbeat(ms: number, payload: EachBatchPayload): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (stopping || !payload.isRunning()) throw new StopRequested();
      await payload.heartbeat();
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - Date.now())));
    }
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const isStopPartition =
      stopBefore !== undefined &&
      batch.topic === stopBefore.topic &&
      batch.partition === stopBefore.partition;
    const messages = isStopPartition
      ? batch.messages.filter((message) => BigInt(message.offset) < stopOffset)
      : batch.messages;
    if (hasPriority && !priorityTopics.has(batch.topic) && messages.length > 0) {
      // The normal lane is handled in the background, its partition held paused meanwhile
      // (so it is not fetched twice), and the fetch loop goes on at once: the expedited
      // lane's next batch is fetched and handled while this one is still in inference or
      // in its transaction, instead of after every normal batch of this fetch. Offsets are
      // resolved as before, chunk by chunk after the acks.
      holdPartition(batch.topic, batch.partition, true);
      const generationAtStart = generation;
      inFlightBatches += 1;
      void handleMessages(payload, messages, generationAtStart)
        .catch((error: unknown) => {
          if (error instanceof StopRequested) return;
          reportBatchFailure(error);
        })
        .finally(() => {
          holdPartition(batch.topic, batch.partition, false);
          batchDone();
        });
      return;
    }
    await handleMessages(payload, messages, generation);
    if (isStopPartition) {
      const next = messages.length > 0 ? BigInt(messages[messages.length - 1]!.offset) + 1n : undefined;
      if (next === undefined || next >= stopOffset) {
        // Paused before the next fetch is built, so the unreadable batch is never fetched again.
        holdPartition(batch.topic, batch.partition, true);
        await commitAllAcknowledged();
        reachedStopWith();
      }
    }
  }

  /**
   * A background (normal-lane) batch failed: a fatal failure stops the stage as it would
   * inline; anything else (a rebalance seen by a heartbeat) drops the rest of the batch,
   * which the partition's owner fetches again from the last resolved offset.
   */
  function reportBatchFailure(error: unknown): void {
    const failure = kafkaFailure(error) ?? error;
    if (dispositionOf(failure) === 'fatal') {
      logger.error({ err: failure }, 'non-retriable failure; the stage stops');
      failWith(failure as Error);
      return;
    }
    logger.warn({ err: error }, 'batch left unfinished; its rest is fetched again');
  }

  /** Chunk by chunk: handle, deliver, then resolve and record the offset for the next commit. */
  async function handleMessages(
    payload: EachBatchPayload,
    messages: readonly KafkaMessage[],
    generationAtStart: number,
  ): Promise<void> {
    const { batch } = payload;
    // Records between what this stage has handed over and the partition's end as of this
    // fetch: a fetch takes everything available, so the lag lives inside the batch too.
    const lagLabels = { topic: batch.topic, partition: String(batch.partition) };
    const highWatermark = Number(batch.highWatermark);
    const setLag = (nextOffset: number) => {
      if (Number.isFinite(highWatermark))
        metrics.consumerLag.set(lagLabels, Math.max(0, highWatermark - nextOffset));
    };
    const holdsForBacklog = !priorityTopics.has(batch.topic);
    // Beside an expedited lane, the normal lane lets what is waiting run first (an expedited
    // fetch response, its handler) before each of its chunks.
    const yieldsToExpedited = hasPriority && holdsForBacklog;
    if (messages.length > 0) setLag(Number(messages[0]!.offset));
    for (let start = 0; start < messages.length; start += options.maxBatchRecords) {
      if (yieldsToExpedited) await new Promise<void>((resolve) => setImmediate(resolve));
      // Paused (backpressure) or revoked: leave the rest unresolved; it is fetched again
      // from the last resolved offset after resume or by the partition's new owner.
      if (stopping || !payload.isRunning() || payload.isStale()) return;
      if (holdsForBacklog && pauseReasons.has('downstream-backlog')) return;
      const chunk = messages
        .slice(start, start + options.maxBatchRecords)
        .map((message) => toInboundRecord(batch.topic, batch.partition, message));
      metrics.recordsIn.inc({ topic: batch.topic }, chunk.length);
      try {
        await processChunk(chunk, payload);
      } catch (error) {
        if (error instanceof StopRequested) return;
        throw error;
      }
      // A rebalance happened meanwhile: the partition may be someone else's now, and its
      // new owner starts from the last commit (a replay, never a gap).
      if (generation !== generationAtStart) return;
      // Resolved only now, after the acks: this is the at-least-once line.
      const last = chunk[chunk.length - 1]!.offset;
      payload.resolveOffset(last);
      acknowledged.set(`${batch.topic}|${batch.partition}`, {
        topic: batch.topic,
        partition: batch.partition,
        offset: String(BigInt(last) + 1n),
      });
      setLag(Number(last) + 1);
      await payload.heartbeat();
    }
  }

  return {
    failed,
    unreadable,
    reachedStop,
    assignment: () => assignment,
    isReady: () => ready && !stopping,
    async start() {
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        ready = true;
        generation += 1;
        assignment = payload.memberAssignment;
        // Offsets of partitions this member lost are not ours to commit any more; their new
        // owner starts from the last commit (at-least-once: a replay, never a gap).
        for (const [key, entry] of acknowledged) {
          if (!assignment[entry.topic]?.includes(entry.partition)) acknowledged.delete(key);
        }
        applyPauseState();
        logger.info(
          { memberId: payload.memberId, assignment: payload.memberAssignment },
          'joined consumer group',
        );
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        ready = false;
        const ours =
          typeof payload.error === 'object' && payload.error !== null && thrownByHandler.has(payload.error);
        // Restarted or not, the same fetch would fail again: a crash loop inside the process.
        if (!ours && isUnreadableBatch(payload.error)) {
          logger.error({ err: payload.error, assignment }, 'the consumer cannot read a fetched batch');
          unreadableWith(payload.error);
          return;
        }
        // Refused credentials or an untrusted certificate: kafkajs would restart the consumer
        // into the same refusal (a certificate failure looks like an outage to it), forever.
        const failure = kafkaFailure(payload.error);
        const refused = failure?.code === ErrorCodes.KAFKA_AUTH || failure?.code === ErrorCodes.KAFKA_TLS;
        if (!payload.restart || refused) {
          const reason = refused ? failure : payload.error;
          logger.error({ err: reason }, 'consumer crashed and will not restart');
          failWith(reason);
        } else {
          logger.warn({ err: payload.error }, 'consumer crashed; kafkajs restarts it');
        }
      });
      await producer.connect();
      await backlog?.start();
      await consumer.connect();
      await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
      commitTimer = setInterval(() => {
        void commitAcknowledged();
      }, commitIntervalMs);
      commitTimer.unref();
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
        eachBatch: async (payload) => {
          inFlightBatches += 1;
          try {
            await eachBatch(payload);
          } catch (error) {
            // kafkajs gets its own error back: it decides how to rejoin or restart.
            if (typeof error === 'object' && error !== null) thrownByHandler.add(error);
            const failure = kafkaFailure(error) ?? error;
            if (dispositionOf(failure) === 'fatal') {
              logger.error({ err: failure }, 'non-retriable failure; the stage stops');
              failWith(failure as Error);
            }
            throw error;
          } finally {
            batchDone();
          }
        },
      });
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      ready = false;
      backlog?.stop();
      // The chunks in flight finish (their acks are recorded), then everything acknowledged is
      // committed before the group is left, so the partitions' next owner starts there.
      if (inFlightBatches > 0) {
        await new Promise<void>((resolve) => {
          batchesDrained = resolve;
        });
      }
      clearInterval(commitTimer);
      await commitAllAcknowledged();
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}
