import { type AddressInfo, createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between the services and the broker, for fault injection: `cut(ms)` drops
 * every connection and refuses new ones for a while (a network partition), `delay(ms)`
 * holds every chunk in both directions for that long (a slow link). Order is kept: chunks
 * of one direction wait the same time and leave in arrival order.
 */
export interface TcpProxy {
  readonly port: number;
  cut(ms: number): Promise<void>;
  setDelay(ms: number): void;
  close(): Promise<void>;
  /** Connections accepted so far. */
  readonly accepted: number;
}

export async function startTcpProxy(options: {
  /** 0 picks a free port (see `port`). */
  listenPort: number;
  targetPort: number;
  host?: string;
  /** Where the proxy listens, when not on `host` (another loopback address, say). */
  listenHost?: string;
}): Promise<TcpProxy> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  let cutUntil = 0;
  let delayMs = 0;
  let accepted = 0;

  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => {
      if (delayMs === 0) to.write(chunk);
      else setTimeout(() => to.writable && to.write(chunk), delayMs);
    });
    from.on('end', () => (delayMs === 0 ? to.end() : setTimeout(() => to.end(), delayMs)));
  };

  const server: Server = createServer((client) => {
    if (Date.now() < cutUntil) {
      client.destroy();
      return;
    }
    accepted += 1;
    const upstream = createConnection({ host, port: options.targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort, options.listenHost ?? host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    get accepted() {
      return accepted;
    },
    async cut(ms) {
      cutUntil = Date.now() + ms;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
    setDelay(ms) {
      delayMs = ms;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
