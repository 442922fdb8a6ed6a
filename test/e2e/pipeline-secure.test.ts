/**
 * The end-to-end pipeline over the stack's secure links only: Kafka's SASL_SSL listener
 * (SCRAM-SHA-512, the stack's CA), the registry over https with basic auth, PostgreSQL with
 * sslmode=verify-full. The services get no plaintext address at all. Three scenarios of
 * pipeline.test.ts (N events make N rows, bad input to the DLQ, SIGKILL and restart, which
 * reconnects and re-authenticates), then what only this mode has to show.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { secureStack } from '@patternflow/harness';
import { describePipeline } from './pipeline-scenario.ts';

const secure = secureStack();

// A broker started by an older stack script has no SASL_SSL listener: say that, instead of
// services that wait for a port nobody listens on.
before(async () => {
  const [host, port] = secure.kafka.brokers[0]!.split(':');
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: host!, port: Number(port) }, () => {
      socket.end();
      resolve();
    });
    socket.once('error', (error) =>
      reject(
        new Error(
          `the broker's SASL_SSL listener ${host}:${port} does not answer (${error.message}): restart Kafka with 'scripts/stack.sh stop kafka && scripts/stack.sh start kafka'`,
        ),
      ),
    );
  });
});

describePipeline({
  title: 'patternflow end to end over TLS and SASL/SCRAM',
  links: secure,
  scenarios: ['generated', 'malformed', 'killed'],
  more(run) {
    test('every connection of the sink to PostgreSQL is TLS', async () => {
      const { rows } = await run
        .pool()
        .query(
          'SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.application_name = $1',
          [`patternflow-sink/${run.schema}`],
        );
      assert.ok(rows.length > 0, 'the sink holds connections');
      assert.ok(
        rows.every((row) => row.ssl === true),
        `every sink connection is TLS: ${JSON.stringify(rows)}`,
      );
    });

    test('no log line of any service holds a password or the registry token', () => {
      const logs = readdirSync(run.logDir).filter((name) => name.endsWith('.log'));
      assert.equal(logs.length, 4, `a log per service in ${run.logDir}`);
      for (const name of logs) {
        const text = readFileSync(join(run.logDir, name), 'utf8');
        assert.match(text, /"msg":"stage running"/, `${name} ran`);
        for (const secret of secure.secrets) {
          assert.ok(!text.includes(secret), `${name} holds a secret of the links`);
        }
      }
    });
  },
});
