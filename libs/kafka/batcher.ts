/**
 * Adaptive batching for work that costs per call more than per item (a model run, a
 * database transaction with its fsync, a produce request): concurrent callers (one per
 * partition being processed) submit their items, and the batcher runs one call at a time
 * over everything submitted so far.
 *
 * - Idle: the submission runs in the same event-loop turn's check phase, so callers that
 *   submit in that turn (the partitions of one fetch) share the call, and a lone record
 *   waits for nothing. There is no linger timer: a timer is pure latency when load is low.
 * - Busy: submissions queue while the call runs and all go into the next one, so batches
 *   grow with the load by themselves (the group commit of databases). Once a full batch
 *   (maxSize) is waiting, it starts beside the calls in flight, up to maxInFlight: under a
 *   backlog, full calls overlap (produce requests pipelined, transactions side by side)
 *   instead of queueing one behind the other.
 *
 * A caller's items stay together in one call, even past maxSize. Memory is bounded by the
 * callers: each waits for its own results before submitting more.
 */
export interface Batcher<In, Out> {
  /** `urgent` callers (the expedited lane) go into the next call ahead of every other caller waiting. */
  submit(items: readonly In[], urgent?: boolean): Promise<Out[]>;
}

export interface BatcherOptions<In, Out> {
  /** Size per call (items, or sizeOf's unit), at least one caller's worth; the rest waits for the next call. */
  maxSize: number;
  /** The size of one item; 1 when absent. */
  sizeOf?: (item: In) => number;
  /** Calls at once, counting the first; the others start only with a full batch. Default 1. */
  maxInFlight?: number;
  /** Runs over the items of several callers; must return one result per item, in order. */
  run: (items: In[]) => Promise<Out[]>;
}

interface Pending<In, Out> {
  items: readonly In[];
  resolve: (out: Out[]) => void;
  reject: (error: unknown) => void;
}

export function createBatcher<In, Out>(options: BatcherOptions<In, Out>): Batcher<In, Out> {
  let queue: Pending<In, Out>[] = [];
  let urgentCount = 0;
  let running = 0;
  let scheduled = false;
  let queuedSize = 0;
  const maxInFlight = Math.max(1, options.maxInFlight ?? 1);

  const sizeOf = options.sizeOf;
  const sizeOfCaller = (items: readonly In[]): number => {
    if (!sizeOf) return items.length;
    let size = 0;
    for (const item of items) size += sizeOf(item);
    return size;
  };
  const take = (): Pending<In, Out>[] => {
    let count = 0;
    let taken = 0;
    while (taken < queue.length) {
      const size = sizeOfCaller(queue[taken]!.items);
      if (taken > 0 && count + size > options.maxSize) break;
      count += size;
      taken += 1;
    }
    const batch = queue.slice(0, taken);
    queue = queue.slice(taken);
    urgentCount = Math.max(0, urgentCount - taken);
    queuedSize = Math.max(0, queuedSize - count);
    return batch;
  };

  /** Starts what may start now: anything when idle, full batches beside calls in flight. */
  const runNext = () => {
    scheduled = false;
    while (queue.length > 0 && (running === 0 || (running < maxInFlight && queuedSize >= options.maxSize))) {
      start(take());
    }
  };

  const start = (batch: Pending<In, Out>[]) => {
    const items = batch.length === 1 ? [...batch[0]!.items] : batch.flatMap((pending) => pending.items);
    running += 1;
    let call: Promise<Out[]>;
    try {
      call = options.run(items);
    } catch (error) {
      call = Promise.reject(error);
    }
    call
      .then((results) => {
        if (results.length !== items.length) {
          throw new Error(`batch returned ${results.length} results for ${items.length} items`);
        }
        let at = 0;
        for (const pending of batch) {
          pending.resolve(results.slice(at, at + pending.items.length));
          at += pending.items.length;
        }
      })
      .catch((error: unknown) => {
        for (const pending of batch) pending.reject(error);
      })
      .finally(() => {
        running -= 1;
        // What queued during the call goes now, together.
        runNext();
      });
  };

  return {
    submit(items, urgent = false) {
      if (items.length === 0) return Promise.resolve([]);
      return new Promise<Out[]>((resolve, reject) => {
        if (urgent) {
          // Behind the urgent callers already waiting, ahead of everyone else.
          queue.splice(urgentCount, 0, { items, resolve, reject });
          urgentCount += 1;
        } else {
          queue.push({ items, resolve, reject });
        }
        queuedSize += sizeOfCaller(items);
        const mayStart = running === 0 || (running < maxInFlight && queuedSize >= options.maxSize);
        if (mayStart && !scheduled) {
          scheduled = true;
          setImmediate(runNext);
        }
      });
    },
  };
}
