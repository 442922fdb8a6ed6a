/**
 * Groups items submitted by concurrent callers (one per partition being processed) into
 * micro-batches for one model call: a batch runs when it reaches `maxSize`, or `lingerMs`
 * after its first item, whichever comes first. Memory is bounded by the callers: each
 * waits for its own results before submitting more.
 */
export interface MicroBatcher<In, Out> {
  submit(items: readonly In[]): Promise<Out[]>;
}

export function createMicroBatcher<In, Out>(options: {
  maxSize: number;
  lingerMs: number;
  run: (items: In[]) => Promise<Out[]>;
}): MicroBatcher<In, Out> {
  interface Pending {
    items: readonly In[];
    resolve: (out: Out[]) => void;
    reject: (error: unknown) => void;
  }
  let queue: Pending[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = queue;
    queue = [];
    queued = 0;
    if (batch.length === 0) return;
    const items = batch.flatMap((pending) => pending.items);
    options.run(items).then(
      (results) => {
        if (results.length !== items.length) {
          const error = new Error(`micro-batch returned ${results.length} results for ${items.length} items`);
          for (const pending of batch) pending.reject(error);
          return;
        }
        let at = 0;
        for (const pending of batch) {
          pending.resolve(results.slice(at, at + pending.items.length));
          at += pending.items.length;
        }
      },
      (error) => {
        for (const pending of batch) pending.reject(error);
      },
    );
  };

  return {
    submit(items) {
      if (items.length === 0) return Promise.resolve([]);
      return new Promise<Out[]>((resolve, reject) => {
        // A caller's items stay together in one batch, even past maxSize: splitting them
        // would only add a second model call for the same caller.
        if (queued > 0 && queued + items.length > options.maxSize) flush();
        queue.push({ items, resolve, reject });
        queued += items.length;
        if (queued >= options.maxSize) flush();
        else if (!timer) timer = setTimeout(flush, options.lingerMs);
      });
    },
  };
}
