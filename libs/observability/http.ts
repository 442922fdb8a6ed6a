import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Health {
  /** The process works (event loop turns, no fatal error). */
  live(): boolean;
  /** The stage consumes: joined its group and its outputs are reachable. */
  ready(): boolean;
}

/** Serves /metrics (Prometheus), /healthz (liveness) and /readyz (readiness). */
export async function startHttpServer(options: {
  port: number;
  host?: string;
  registry: Registry;
  health: Health;
}): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': options.registry.contentType });
          response.end(text);
        },
        (error: Error) => {
          response.writeHead(500).end(error.message);
        },
      );
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' ? options.health.live() : options.health.ready();
      response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ok }));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return server;
}
