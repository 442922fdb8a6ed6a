import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import { stack, uniqueName } from '@patternflow/harness';
import { topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import type { SourceAdapter } from '@patternflow/sources';
import { createIngestDecoder } from '../../services/ingestor/src/ingest.ts';

/** v1 is what an older producer writes; the source pack's raw schema (v2) adds a field with a default. */
const sensorV1 = {
  type: 'record',
  name: 'SensorReading',
  namespace: 'dev.patternflow.test',
  fields: [
    { name: 'reading_id', type: 'string' },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'tenant', type: 'string' },
    { name: 'celsius', type: 'double' },
    { name: 'site', type: ['null', 'string'], default: null },
  ],
};
const sensorV2 = {
  ...sensorV1,
  fields: [...sensorV1.fields, { name: 'region', type: 'string', default: 'eu-west' }],
};

function sensorAdapter(source: string): SourceAdapter {
  return {
    source,
    rawSchema: sensorV2,
    normalize(raw) {
      return {
        id: raw.reading_id as string,
        source,
        kind: 'reading',
        event_time: raw.at as number,
        tenant: raw.tenant as string,
        tier: 'free',
        region: raw.region as string,
        attributes: { celsius: raw.celsius as number, site: raw.site as string | null },
      };
    },
  };
}

describe('ingest decoder: Confluent-framed Avro from a standard serializer, real registry', () => {
  const registryUrl = stack.registryUrl;
  const confluent = new SchemaRegistry({ host: registryUrl });
  // A namespace per run: its own ingest topic, hence its own subject.
  const topics = topicNames(uniqueName('it.ingest'));
  const source = 'sensors';
  const topic = topics.ingest(source);
  const subject = valueSubject(topic);
  const reading = { reading_id: 'r-1', at: 1_735_000_000_000, tenant: 'acme', celsius: 21.5, site: 'lab-2' };

  const decode = createIngestDecoder({
    adapters: new Map([[source, sensorAdapter(source)]]),
    codec: createSchemaCodec({ url: registryUrl }),
    maxValueBytes: 64 * 1024,
    topics,
  });

  test('v2 (the raw schema) and v1 (an older producer) both normalize', async (t) => {
    t.after(async () => {
      for (const query of ['', '?permanent=true']) {
        await fetch(`${registryUrl}/subjects/${subject}${query}`, { method: 'DELETE' }).catch(() => {});
      }
    });
    const { id: v1Id } = await confluent.register(sensorV1 as never, { subject });
    const { id: v2Id } = await confluent.register(sensorV2 as never, { subject });
    assert.notEqual(v1Id, v2Id);

    const v2Value = await confluent.encode(v2Id, { ...reading, region: 'us-east' });
    const fromV2 = await decode({ topic, value: v2Value, timestamp: 1_735_000_000_250 });
    assert.deepEqual(
      { ...fromV2 },
      {
        id: 'r-1',
        source,
        kind: 'reading',
        event_time: 1_735_000_000_000,
        ingest_time: 1_735_000_000_250,
        tenant: 'acme',
        tier: 'free',
        region: 'us-east',
        attributes: { celsius: 21.5, site: 'lab-2' },
        payload: JSON.stringify({ ...reading, region: 'us-east' }),
        payload_format: 'AVRO',
        payload_schema_id: v2Id,
      },
    );

    const v1Value = await confluent.encode(v1Id, { ...reading, site: null });
    const fromV1 = await decode({ topic, value: v1Value, timestamp: 7 });
    assert.equal(fromV1.payload_schema_id, v1Id);
    assert.equal(fromV1.region, 'eu-west', 'the reader default fills the field v1 lacks');
    assert.deepEqual(fromV1.attributes, { celsius: 21.5, site: null });
    assert.deepEqual(JSON.parse(fromV1.payload), { ...reading, site: null, region: 'eu-west' });
  });

  test('an id the registry does not know is a dead-letterable UNKNOWN_SCHEMA_ID', async () => {
    const value = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 2, 0x41]);
    await assert.rejects(decode({ topic, value, timestamp: 1 }), (error: unknown) => {
      assert.ok(error instanceof PipelineError);
      assert.equal(error.code, ErrorCodes.UNKNOWN_SCHEMA_ID);
      assert.equal(dispositionOf(error), 'dead-letter');
      assert.equal(error.details.schemaId, 0x7ffffff0);
      return true;
    });
  });
});
