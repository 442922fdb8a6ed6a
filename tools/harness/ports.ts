import { createServer } from 'node:net';

/**
 * Hands out the ports of a test's own range (`first`-`last`) one after the other, each one
 * that nobody holds right now. The ranges lie inside Linux's ephemeral range, so a client
 * socket (a Kafka or registry connection) can hold a port of it for a while; a service
 * started on such a port would fail with EADDRINUSE instead of doing what the test checks.
 */
export function portsIn(first: number, last: number): () => Promise<number> {
  let next = first;
  return async () => {
    for (; next <= last; next++) {
      const server = createServer();
      const free = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(next, '127.0.0.1', () => resolve(true));
      });
      if (free) {
        await new Promise((resolve) => server.close(resolve));
        return next++;
      }
    }
    throw new Error(`no free port left in ${first}-${last}`);
  };
}
