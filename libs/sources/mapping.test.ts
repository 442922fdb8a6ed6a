import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { generateEvents } from '@patternflow/generators';
import { loadSchema } from '@patternflow/records';
import avro from 'avsc';
import { getSourcePack, sourceNames } from './index.ts';

/** Canonical fields the ingestor fills in itself; a source decides every other one. */
const INGESTOR_FIELDS = ['ingest_time', 'payload', 'payload_format', 'payload_schema_id'];
/** Fields every mapping provides without a raw path: constants of the source, and all raw fields flattened. */
const IMPLICIT_FIELDS = ['source', 'kind', 'attributes'];

const canonicalFields = (loadSchema('normalized').fields as { name: string }[]).map((f) => f.name);

/** The Avro type at a dotted path of a record type (through nullable unions), or undefined. */
function typeAt(type: avro.Type, path: string): avro.Type | undefined {
  let current: avro.Type | undefined = type;
  for (const part of path.split('.')) {
    const branches: avro.Type[] =
      current && 'types' in current ? (current as unknown as { types: avro.Type[] }).types : [current!];
    const record = branches.find((t) => t?.typeName === 'record') as avro.types.RecordType | undefined;
    current = record?.field(part)?.type;
    if (!current) return undefined;
  }
  return current;
}

describe('declarative mappings', () => {
  test('every source maps every canonical field the ingestor does not fill in', () => {
    const decided = canonicalFields.filter((f) => !INGESTOR_FIELDS.includes(f));
    assert.ok(decided.includes('id') && decided.includes('tier'), 'read from schemas/normalized.avsc');
    for (const source of sourceNames()) {
      const { mapping, kind } = getSourcePack(source)!;
      assert.equal(mapping.source, source);
      assert.equal(mapping.kind, kind);
      assert.deepEqual(
        [...IMPLICIT_FIELDS, ...Object.keys(mapping.fields)].sort(),
        [...decided].sort(),
        `${source} mapping`,
      );
    }
  });

  test('every mapped path names a field of the source raw schema', () => {
    for (const source of sourceNames()) {
      const pack = getSourcePack(source)!;
      const type = avro.Type.forSchema(pack.rawSchema as avro.Schema);
      for (const [field, rule] of Object.entries(pack.mapping.fields)) {
        const at = typeAt(type, rule.from);
        assert.ok(at, `${source}.${field}: "${rule.from}" is not in schemas/sources/${source}.avsc`);
      }
    }
  });

  test('the path check itself fails for a path that is not in the schema', () => {
    const type = avro.Type.forSchema(getSourcePack('netflow')!.rawSchema as avro.Schema);
    assert.ok(typeAt(type, 'exporter.tenant_id'));
    assert.equal(typeAt(type, 'exporter.nope'), undefined);
    assert.equal(typeAt(type, 'tenant_id'), undefined);
  });
});

/**
 * The exact codes, messages and details of the hand-written normalize() functions the
 * mappings replaced (checked against them before the change), one case per reader.
 */
describe('normalize errors: same codes, messages and details as before the mappings', () => {
  const first = (s: string): Record<string, unknown> =>
    structuredClone([...generateEvents({ seed: 2, count: 1, sources: [s] })][0]!.event);
  const cases: {
    source: string;
    change: (raw: Record<string, unknown>) => void;
    code: string;
    message: string;
    details: Record<string, unknown>;
  }[] = [
    {
      source: 'auth',
      change: (raw) => delete raw.event_id,
      code: ErrorCodes.MISSING_FIELD,
      message: 'auth: event_id is missing',
      details: { source: 'auth', field: 'event_id' },
    },
    {
      source: 'payments',
      change: (raw) => {
        raw.tenant_id = '  ';
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'payments: tenant_id must not be empty',
      details: { source: 'payments', field: 'tenant_id', value: '  ' },
    },
    {
      source: 'netflow',
      change: (raw) => {
        (raw.exporter as Record<string, unknown>).tenant_id = 7;
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'netflow: exporter.tenant_id must be a string, got number',
      details: { source: 'netflow', field: 'exporter.tenant_id', value: 7 },
    },
    {
      source: 'netflow',
      change: (raw) => {
        raw.exporter = null;
      },
      code: ErrorCodes.MISSING_FIELD,
      message: 'netflow: exporter.tenant_id is missing',
      details: { source: 'netflow', field: 'exporter.tenant_id' },
    },
    {
      source: 'payments',
      change: (raw) => {
        raw.tier = 'platinum';
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'payments: tier "platinum" is not a tier (expected one of enterprise|business|standard|free)',
      details: { source: 'payments', field: 'tier', value: 'platinum' },
    },
    {
      source: 'auth',
      change: (raw) => {
        raw.region = 'Europe West';
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'auth: region "Europe West" is not a region name like eu-west or us-east-1',
      details: { source: 'auth', field: 'region', value: 'Europe West' },
    },
    {
      source: 'payments',
      change: (raw) => {
        raw.created_at = '03/03/2025 10:15';
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'payments: created_at "03/03/2025 10:15" is not an ISO-8601 timestamp with a zone',
      details: { source: 'payments', field: 'created_at', value: '03/03/2025 10:15' },
    },
    {
      source: 'payments',
      change: (raw) => {
        raw.created_at = '1999-12-31T23:59:59Z';
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'payments: created_at is not a plausible timestamp (1999-12-31T23:59:59Z)',
      details: { source: 'payments', field: 'created_at', value: '1999-12-31T23:59:59Z' },
    },
    {
      source: 'auth',
      change: (raw) => {
        raw.timestamp_ms = '1741000000000';
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'auth: timestamp_ms must be epoch millis, got string',
      details: { source: 'auth', field: 'timestamp_ms', value: '1741000000000' },
    },
    {
      source: 'netflow',
      change: (raw) => {
        raw.start_ts = 'soon';
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'netflow: start_ts must be epoch seconds, got string',
      details: { source: 'netflow', field: 'start_ts', value: 'soon' },
    },
    {
      source: 'netflow',
      change: (raw) => {
        raw.start_ts = 5_000_000_000;
      },
      code: ErrorCodes.INVALID_FIELD,
      message: 'netflow: start_ts is not a plausible timestamp (5000000000)',
      details: { source: 'netflow', field: 'start_ts', value: 5_000_000_000 },
    },
    {
      source: 'auth',
      change: (raw) => {
        delete raw.event_id;
        raw.tier = 'gold';
      },
      code: ErrorCodes.MISSING_FIELD,
      message: 'auth: event_id is missing',
      details: { source: 'auth', field: 'event_id' },
    },
  ];

  for (const c of cases) {
    test(`${c.source}: ${c.message}`, () => {
      const raw = first(c.source);
      c.change(raw);
      assert.throws(
        () => getSourcePack(c.source)!.normalize(raw),
        (err: unknown) => {
          assert.ok(err instanceof PipelineError, `a PipelineError, got ${String(err)}`);
          assert.equal(err.code, c.code);
          assert.equal(err.message, c.message);
          assert.deepEqual(err.details, c.details);
          return true;
        },
      );
    });
  }
});
