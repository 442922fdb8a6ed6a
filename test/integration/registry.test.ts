import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import { stack, uniqueName } from '@patternflow/harness';
import { loadSchema } from '@patternflow/records';
import { createSchemaCodec, isConfluentFramed } from '@patternflow/registry';

const namespace = 'dev.patternflow.test';
const orderV1 = {
  type: 'record',
  name: 'Order',
  namespace,
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'placed_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'coupon', type: ['null', 'string'], default: null },
  ],
};
const orderV2 = {
  ...orderV1,
  fields: [...orderV1.fields, { name: 'channel', type: ['null', 'string'], default: null }],
};
const order = { id: 'o-1', amount: 99.95, placed_at: 1_735_000_000_000, coupon: 'WELCOME' };

const headers = { 'content-type': 'application/vnd.schemaregistry.v1+json' };

/** A subject per test, deleted (soft, then permanently) when the test ends. */
function subjectFor(t: { after(fn: () => Promise<void>): void }): string {
  const subject = `${uniqueName('it.registry')}-value`;
  t.after(async () => {
    for (const query of ['', '?permanent=true']) {
      await fetch(`${stack.registryUrl}/subjects/${subject}${query}`, { method: 'DELETE' }).catch(() => {});
    }
  });
  return subject;
}

function assertPipelineError(code: string, check?: (error: PipelineError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof PipelineError, `expected a PipelineError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    check?.(error);
    return true;
  };
}

describe('schema codec against the real Apicurio registry', () => {
  const codec = createSchemaCodec({ url: stack.registryUrl });
  const confluent = new SchemaRegistry({ host: stack.registryUrl });

  test('register is idempotent; encode and decode round-trip', async (t) => {
    const subject = subjectFor(t);
    const id = await codec.register(subject, orderV1);
    assert.ok(Number.isInteger(id) && id > 0);
    // A second codec has no cache: the registry itself must answer with the same id.
    assert.equal(await createSchemaCodec({ url: stack.registryUrl }).register(subject, orderV1), id);
    const encoder = await codec.encoderFor(subject, orderV1);
    assert.equal(encoder.schemaId, id);
    const buffer = encoder.encode(order);
    assert.ok(isConfluentFramed(buffer));
    assert.equal(buffer.readInt32BE(1), id);
    const decoded = await createSchemaCodec({ url: stack.registryUrl }).decoderFor(orderV1).decode(buffer);
    assert.equal(decoded.schemaId, id);
    assert.deepEqual({ ...(decoded.value as object) }, order);
  });

  test('interoperates with the @kafkajs/confluent-schema-registry serializer both ways', async (t) => {
    const subject = subjectFor(t);
    const { id } = await confluent.register(orderV1 as never, { subject });
    const theirs = await confluent.encode(id, order);
    const decoded = await codec.decoderFor(orderV1).decode(theirs);
    assert.equal(decoded.schemaId, id);
    assert.deepEqual({ ...(decoded.value as object) }, order);

    const encoder = await codec.encoderFor(subject, orderV1);
    assert.equal(encoder.schemaId, id, 'the codec finds the schema the other client registered');
    const ours = encoder.encode({ ...order, coupon: null });
    assert.deepEqual(theirs.subarray(0, 5), ours.subarray(0, 5));
    assert.deepEqual({ ...(await confluent.decode(ours)) }, { ...order, coupon: null });
  });

  test('a v1 writer decodes with a v2 reader (new optional field with default)', async (t) => {
    const subject = subjectFor(t);
    const v1 = await codec.encoderFor(subject, orderV1);
    const v2Id = await codec.register(subject, orderV2);
    assert.notEqual(v2Id, v1.schemaId);
    const decoded = await codec.decoderFor(orderV2).decode(v1.encode(order));
    assert.equal(decoded.schemaId, v1.schemaId);
    assert.deepEqual({ ...(decoded.value as object) }, { ...order, channel: null });
  });

  test('an id the registry does not know is UNKNOWN_SCHEMA_ID with the id', async () => {
    const missingId = 2_000_000_000;
    const framed = Buffer.alloc(6);
    framed.writeInt32BE(missingId, 1);
    await assert.rejects(
      codec.decoderFor(orderV1).decode(framed),
      assertPipelineError(ErrorCodes.UNKNOWN_SCHEMA_ID, (error) => {
        assert.equal(dispositionOf(error), 'dead-letter');
        assert.equal(error.details.schemaId, missingId);
        assert.match(error.message, /2000000000/);
      }),
    );
  });

  test('an unreachable registry or a wrong base path is REGISTRY_UNAVAILABLE, retried', async (t) => {
    const subject = subjectFor(t);
    const id = await codec.register(subject, orderV1);
    const framed = (await codec.encoderFor(subject, orderV1)).encode(order);
    assert.equal(framed.readInt32BE(1), id);
    const refused = createSchemaCodec({ url: 'http://127.0.0.1:1/apis/ccompat/v7' });
    await assert.rejects(
      refused.decoderFor(orderV1).decode(framed),
      assertPipelineError(ErrorCodes.REGISTRY_UNAVAILABLE, (error) =>
        assert.equal(dispositionOf(error), 'retry'),
      ),
    );
    // Every path of a wrong base URL answers 404; that must not read as "unknown id".
    const wrongPath = createSchemaCodec({ url: stack.registryUrl.replace('/ccompat/v7', '/nothing/v7') });
    await assert.rejects(
      wrongPath.decoderFor(orderV1).decode(framed),
      assertPipelineError(ErrorCodes.REGISTRY_UNAVAILABLE, (error) =>
        assert.equal(dispositionOf(error), 'retry'),
      ),
    );
  });

  test('Apicurio ccompat ids are content ids: same text, same id across subjects; getSchema works', async (t) => {
    const subjectA = subjectFor(t);
    const subjectB = subjectFor(t);
    // A schema no other test registers, so its content id is fresh.
    const unique = { ...orderV1, name: `Order_${subjectA.replace(/\W/g, '_')}` };
    const idA = await codec.register(subjectA, unique);
    const idB = await codec.register(subjectB, unique);
    assert.equal(idA, idB, 'one id per schema content, shared by subjects');
    const versions = (await (
      await fetch(`${stack.registryUrl}/schemas/ids/${idA}/versions`)
    ).json()) as Array<{
      subject: string;
    }>;
    assert.deepEqual(versions.map((v) => v.subject).sort(), [subjectA, subjectB].sort());
    const fetched = (await confluent.getSchema(idA)) as unknown as { name: string };
    assert.equal(fetched.name, `${namespace}.${unique.name}`);

    // Unlike Confluent (which compares canonical forms), Apicurio 3 dedupes on the exact
    // text: the same schema with other whitespace becomes a new version with a new id.
    const reformatted = JSON.stringify(unique, null, 2);
    const response = await fetch(`${stack.registryUrl}/subjects/${subjectA}/versions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ schema: reformatted }),
    });
    const { id: reformattedId } = (await response.json()) as { id: number };
    assert.notEqual(reformattedId, idA);
  });

  test('two services registering the same new subject at once both get its id (stage start race)', async (t) => {
    // Each round is a fresh subject that several codecs (as several services) register at once.
    for (let round = 0; round < 5; round++) {
      const subject = subjectFor(t);
      const ids = await Promise.all(
        Array.from({ length: 6 }, () =>
          createSchemaCodec({ url: stack.registryUrl }).register(subject, orderV1),
        ),
      );
      assert.equal(new Set(ids).size, 1, `one id for all: ${ids}`);
    }
  });

  test('a subject created without a compatibility level refuses a new version from the codec', async (t) => {
    const subject = subjectFor(t);
    // Another tool registered v1 and left the level unset (Apicurio then reports the global NONE).
    const created = await fetch(`${stack.registryUrl}/subjects/${subject}/versions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ schema: JSON.stringify(orderV1) }),
    });
    assert.equal(created.status, 200);
    // The same schema is a lookup and succeeds; a new version trips the level check.
    assert.ok((await codec.register(subject, orderV1)) > 0);
    await assert.rejects(
      codec.register(subject, orderV2),
      assertPipelineError(ErrorCodes.CONFIG_INVALID, (error) => assert.match(error.message, /BACKWARD/)),
    );
  });

  /** The stage schema as it was before inference.model_sha256 (or with the field changed by `edit`). */
  function withModelSha256(name: 'tagged' | 'routed', edit: 'remove' | 'no-default') {
    const schema = structuredClone(loadSchema(name)) as { fields: { name: string; type: unknown }[] };
    const inference = schema.fields.find((f) => f.name === 'inference')!.type as {
      fields: { name: string; default?: unknown }[];
    };
    const at = inference.fields.findIndex((f) => f.name === 'model_sha256');
    assert.ok(at >= 0, `${name}.avsc has inference.model_sha256`);
    if (edit === 'remove') inference.fields.splice(at, 1);
    else delete inference.fields[at]!.default;
    return schema;
  }

  for (const name of ['tagged', 'routed'] as const) {
    test(`${name}: inference.model_sha256 is a BACKWARD evolution; old records read it as ""`, async (t) => {
      const subject = subjectFor(t);
      const previous = withModelSha256(name, 'remove');
      const oldWriter = await codec.encoderFor(subject, previous);
      if (name === 'tagged') {
        // Without a default the registry refuses it, so the acceptance below is a real check
        // (once: a refusal costs ~5 s of the registry's own time).
        await assert.rejects(
          codec.register(subject, withModelSha256(name, 'no-default')),
          assertPipelineError(ErrorCodes.CONFIG_INVALID),
        );
      }
      const current = loadSchema(name);
      const currentId = await codec.register(subject, current);
      assert.notEqual(currentId, oldWriter.schemaId);
      const taggedRecord = {
        id: 'r-1',
        source: 'payments',
        kind: 'card_payment',
        event_time: 1_735_000_000_000,
        ingest_time: 1_735_000_000_100,
        tenant: 't',
        tier: 'free',
        region: 'eu-west',
        attributes: { 'amount.value_minor': 1200 },
        payload: '{}',
        payload_format: 'JSON',
        payload_schema_id: null,
        inference: {
          label: 'legit',
          score: 0.9,
          scores: { legit: 0.9, fraud: 0.1 },
          model_name: 'payments-fraud-rf',
          model_version: '1.0.0',
          inferred_at: 1_735_000_000_200,
        },
        ...(name === 'routed'
          ? { route: { lane: 'bulk', rule: 'default', policy_version: '1', routed_at: 1_735_000_000_300 } }
          : {}),
      };
      const decoded = (await codec.decoderFor(current).decode(oldWriter.encode(taggedRecord))).value as {
        inference: Record<string, unknown>;
      };
      assert.equal(decoded.inference.model_sha256, '');
      assert.equal(decoded.inference.model_version, '1.0.0');
    });
  }
});
