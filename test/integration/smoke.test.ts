import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { stack, uniqueName } from '@patternflow/harness';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

describe('the local stack answers for real', () => {
  const kafka = new Kafka({ clientId: 'smoke', brokers: stack.brokers, logLevel: logLevel.NOTHING });

  test('kafka: create a topic, produce, then consume the same records in a consumer group', async (t) => {
    const topic = uniqueName('smoke.kafka');
    const admin = kafka.admin();
    await admin.connect();
    t.after(async () => {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    });
    assert.equal(
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }),
      true,
    );

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
    await producer.connect();
    const sent = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `value-${i}` }));
    await producer.send({ topic, acks: -1, messages: sent });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: uniqueName('smoke.group') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${received.length} of 20 records arrived`)),
        30_000,
      );
      consumer
        .run({
          eachMessage: async ({ message }) => {
            received.push(String(message.value));
            if (received.length === sent.length) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    assert.deepEqual(received.sort(), sent.map((m) => m.value).sort());
  });

  test('registry: register an Avro schema under <topic>-value and round-trip a record', async () => {
    const registry = new SchemaRegistry({ host: stack.registryUrl });
    const subject = `${uniqueName('smoke.registry')}-value`;
    const schema = {
      type: 'record',
      name: 'Smoke',
      namespace: 'dev.patternflow.test',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'amount', type: 'double' },
      ],
    };
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
      { subject },
    );
    assert.ok(Number.isInteger(id) && id > 0, `registry returned schema id ${id}`);
    const encoded = await registry.encode(id, { id: 'abc', amount: 12.5 });
    assert.equal(encoded[0], 0, 'Confluent wire format starts with magic byte 0');
    assert.equal(encoded.readInt32BE(1), id, 'then the 4-byte schema id');
    assert.deepEqual({ ...(await registry.decode(encoded)) }, { id: 'abc', amount: 12.5 });
    assert.equal(await registry.getLatestSchemaId(subject), id);
  });

  test('postgres: write a row and read it back', async () => {
    const client = new pg.Client({ connectionString: stack.pgUrl });
    await client.connect();
    after(() => client.end());
    const table = `smoke_${Math.random().toString(36).slice(2, 10)}`;
    await client.query(`CREATE TABLE ${table} (id text PRIMARY KEY, n integer NOT NULL)`);
    try {
      await client.query(`INSERT INTO ${table} (id, n) VALUES ($1, $2)`, ['a', 42]);
      const { rows } = await client.query(`SELECT id, n FROM ${table}`);
      assert.deepEqual(rows, [{ id: 'a', n: 42 }]);
    } finally {
      await client.query(`DROP TABLE ${table}`);
    }
  });
});
