/**
 * When a row became durable: the sink inserts each batch in one transaction, and a row is
 * durable once that transaction has committed. A statement-level AFTER INSERT trigger on the
 * run's patterns table calls pg_notify(channel, <32-bit xid>); PostgreSQL delivers a
 * notification only when (and if) the transaction commits, so its arrival at a listener is
 * the commit as seen from outside, stamped with sub-ms wall-clock time. A row's xmin is the
 * transaction that inserted it: xmin → commit time → durable latency of the row.
 *
 * A replayed record inserts nothing (ON CONFLICT DO NOTHING), so the row's xmin stays the
 * first insert's: the durable point is the first commit, as it should be.
 *
 * Cost of the probe itself: a transaction that NOTIFYs holds a lock serializing all notifying
 * commits until after its COMMIT, so the sink's concurrent batches commit one after another.
 */
import { Worker } from 'node:worker_threads';
import type pg from 'pg';

export interface CommitProbe {
  /** xid (as text, the value of `xmin::text`) → commit time in ms since the epoch. */
  commitTimes(): Promise<ReadonlyMap<string, number>>;
  /** Drops the trigger and its function and ends the listener. */
  stop(): Promise<void>;
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'snapshot'; commits: Map<string, number> }
  | { type: 'stopped' }
  | { type: 'failed'; message: string };

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,40}$/;

/**
 * Starts the listener, then installs the trigger on `<schema>.<table>`: from then on every
 * insert's commit is recorded. The channel is `pf_commit_<schema>`, unique to the run.
 */
export async function startCommitProbe(options: {
  pool: pg.Pool;
  pgUrl: string;
  schema: string;
  table?: string;
}): Promise<CommitProbe> {
  const table = options.table ?? 'patterns';
  for (const name of [options.schema, table]) {
    if (!IDENTIFIER.test(name)) throw new Error(`commit probe: '${name}' is not a plain identifier`);
  }
  const channel = `pf_commit_${options.schema}`;
  const fn = `${options.schema}.pf_bench_commit_notify`;
  const trigger = 'pf_bench_commit_notify';
  const worker = new Worker(new URL('./commit-probe-worker.ts', import.meta.url), {
    workerData: { pgUrl: options.pgUrl, channel },
  });
  let failure: Error | undefined;
  const waiters: ((message: WorkerMessage) => void)[] = [];
  worker.on('message', (message: WorkerMessage) => {
    if (message.type === 'failed') failure ??= new Error(`commit probe listener: ${message.message}`);
    waiters.shift()?.(message);
  });
  worker.on('error', (error) => {
    failure ??= error;
    for (const waiter of waiters.splice(0)) waiter({ type: 'failed', message: error.message });
  });
  const next = () => new Promise<WorkerMessage>((resolve) => waiters.push(resolve));

  const ready = await next();
  if (ready.type !== 'ready') {
    await worker.terminate();
    throw failure ?? new Error('commit probe listener did not start');
  }
  try {
    await options.pool.query(
      `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         -- xmin holds the 32-bit xid; txid_current() is the 64-bit one with the epoch on top.
         PERFORM pg_notify('${channel}', (txid_current() % 4294967296)::text);
         RETURN NULL;
       END $$`,
    );
    await options.pool.query(
      `CREATE TRIGGER ${trigger} AFTER INSERT ON ${options.schema}.${table}
         FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    );
  } catch (error) {
    // A listener left running would keep the bench process alive after its last phase.
    await worker.terminate();
    throw error;
  }

  let stopped = false;
  return {
    async commitTimes() {
      if (failure) throw failure;
      const reply = next();
      worker.postMessage({ type: 'snapshot' });
      const message = await reply;
      if (message.type !== 'snapshot') throw failure ?? new Error(`commit probe: unexpected ${message.type}`);
      return message.commits;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await options.pool
        .query(`DROP TRIGGER IF EXISTS ${trigger} ON ${options.schema}.${table}`)
        .then(() => options.pool.query(`DROP FUNCTION IF EXISTS ${fn}()`))
        .catch(() => {});
      const done = next();
      worker.postMessage({ type: 'stop' });
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 2000))]);
      await worker.terminate();
    },
  };
}
