/**
 * Worker-thread entry of the commit probe (commit-probe.ts): one PostgreSQL connection that
 * LISTENs on the run's channel and records, for each transaction id it is told about, the
 * wall-clock time its notification arrived. It runs off the bench's main thread so that the
 * load generator (which shares that thread) cannot delay the timestamps.
 *   worker → { type: 'ready' }                     once LISTEN is in place
 *   parent → { type: 'snapshot' }                  worker → { type: 'snapshot', commits }
 *   parent → { type: 'stop' }                      worker → { type: 'stopped' }, then exits
 *   worker → { type: 'failed', message }           on a connection error
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';

const { pgUrl, channel } = workerData as { pgUrl: string; channel: string };
const port = parentPort!;
/** xid (32-bit, as text) → ms since the epoch, with sub-ms precision. */
const commits = new Map<string, number>();
const client = new pg.Client({ connectionString: pgUrl });

client.on('notification', (message) => {
  // performance.now() is sub-ms; timeOrigin makes it comparable with Date.now() (CreateTime).
  const at = performance.timeOrigin + performance.now();
  if (message.channel !== channel || !message.payload) return;
  // A transaction notifies once per INSERT statement; all arrive together after COMMIT.
  if (!commits.has(message.payload)) commits.set(message.payload, at);
});
client.on('error', (error) => port.postMessage({ type: 'failed', message: error.message }));

port.on('message', (message: { type: 'snapshot' | 'stop' }) => {
  if (message.type === 'snapshot') {
    port.postMessage({ type: 'snapshot', commits });
  } else {
    client
      .end()
      .catch(() => {})
      .finally(() => {
        port.postMessage({ type: 'stopped' });
        port.close();
      });
  }
});

try {
  await client.connect();
  // The channel is built by commit-probe.ts from the run's schema name: a plain identifier.
  await client.query(`LISTEN ${channel}`);
  port.postMessage({ type: 'ready' });
} catch (error) {
  port.postMessage({ type: 'failed', message: (error as Error).message });
}
