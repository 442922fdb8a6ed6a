/**
 * The serialization ceiling of one core: how many canonical records per second avsc
 * encodes and decodes (schemas/normalized.avsc), against JSON.stringify/JSON.parse of the
 * same record. Every stage decodes and re-encodes each record, so this bounds a stage's
 * rate before any real work.
 */
import type { NormalizedPattern } from '@patternflow/records';
import { loadSchema } from '@patternflow/records';
import avro from 'avsc';

export interface CodecOptions {
  /** Time spent on each of the four operations (after a short warm-up). */
  durationMs?: number;
  record?: NormalizedPattern;
}

export interface CodecResult {
  schema: 'normalized';
  attributes: number;
  avroBytes: number;
  jsonBytes: number;
  avro: { encodePerSec: number; decodePerSec: number; encodeMbPerSec: number; decodeMbPerSec: number };
  json: { stringifyPerSec: number; parsePerSec: number; stringifyMbPerSec: number; parseMbPerSec: number };
  units: { perSec: 'records/s (one core)'; mbPerSec: 'MB/s (10^6 bytes of output/input)'; bytes: 'bytes' };
}

/** A payments record as the ingestor writes it: 15 typed attributes and the original JSON. */
export function sampleNormalizedRecord(): NormalizedPattern {
  const eventTime = Date.UTC(2025, 10, 25, 14, 3, 27, 512);
  const original = {
    event_id: 'pay_7f3c2a91e4b84d0c9b6e15a2d8f04c37',
    type: 'card_payment',
    occurred_at: new Date(eventTime).toISOString(),
    tenant: 'acme-retail',
    amount: { value: 1249.5, currency: 'EUR' },
    card: { bin: '457173', country: 'DE', present: false, scheme: 'visa' },
    merchant: { id: 'm_88412', mcc: '5732', country: 'NL', name: 'Elektro Markt Online' },
    customer: { id: 'c_1029384', account_age_days: 412, ip_country: 'DE', device: 'd_ab12cd34' },
    channel: 'ecommerce',
    three_ds: true,
    velocity: { count_1h: 3, amount_24h: 2310.75 },
  };
  return {
    id: original.event_id,
    source: 'payments',
    kind: 'card_payment',
    event_time: eventTime,
    ingest_time: eventTime + 184,
    tenant: 'acme-retail',
    tier: 'enterprise',
    region: 'eu-west',
    attributes: {
      'amount.value': 1249.5,
      'amount.currency': 'EUR',
      'card.bin': '457173',
      'card.country': 'DE',
      'card.present': false,
      'card.scheme': 'visa',
      'merchant.id': 'm_88412',
      'merchant.mcc': '5732',
      'merchant.country': 'NL',
      'customer.account_age_days': 412,
      'customer.ip_country': 'DE',
      'customer.device': 'd_ab12cd34',
      channel: 'ecommerce',
      three_ds: true,
      'velocity.amount_24h': 2310.75,
      'refund.reason': null,
    },
    payload: JSON.stringify(original),
    payload_format: 'JSON',
    payload_schema_id: null,
  };
}

export async function measureCodec(options: CodecOptions = {}): Promise<CodecResult> {
  const durationMs = options.durationMs ?? 2000;
  const record = options.record ?? sampleNormalizedRecord();
  const type = avro.Type.forSchema(loadSchema('normalized') as avro.Schema);
  const encoded = type.toBuffer(record);
  const json = JSON.stringify(record);
  // Round trips must be lossless, or the rates would compare different work.
  if (!type.isValid(record) || JSON.stringify(type.fromBuffer(encoded)) !== json) {
    throw new Error('the sample record does not round-trip through schemas/normalized.avsc');
  }

  // Results are kept in a sink so the engine cannot drop the work as dead code.
  let sink = 0;
  const encodePerSec = await opsPerSecond(durationMs, () => {
    sink += type.toBuffer(record).length;
  });
  const decodePerSec = await opsPerSecond(durationMs, () => {
    sink += (type.fromBuffer(encoded) as NormalizedPattern).event_time;
  });
  const stringifyPerSec = await opsPerSecond(durationMs, () => {
    sink += JSON.stringify(record).length;
  });
  const parsePerSec = await opsPerSecond(durationMs, () => {
    sink += (JSON.parse(json) as NormalizedPattern).event_time;
  });
  if (sink === 0) throw new Error('codec benchmark did no work');

  const jsonBytes = Buffer.byteLength(json);
  const mb = (perSec: number, bytes: number) => Math.round((perSec * bytes) / 1e4) / 100;
  return {
    schema: 'normalized',
    attributes: Object.keys(record.attributes).length,
    avroBytes: encoded.length,
    jsonBytes,
    avro: {
      encodePerSec,
      decodePerSec,
      encodeMbPerSec: mb(encodePerSec, encoded.length),
      decodeMbPerSec: mb(decodePerSec, encoded.length),
    },
    json: {
      stringifyPerSec,
      parsePerSec,
      stringifyMbPerSec: mb(stringifyPerSec, jsonBytes),
      parseMbPerSec: mb(parsePerSec, jsonBytes),
    },
    units: { perSec: 'records/s (one core)', mbPerSec: 'MB/s (10^6 bytes of output/input)', bytes: 'bytes' },
  };
}

/** Runs `operation` in slices of 1000 for `durationMs` after a warm-up of a tenth of it. */
async function opsPerSecond(durationMs: number, operation: () => void): Promise<number> {
  const slice = 1000;
  const run = (ms: number): number => {
    let count = 0;
    const started = process.hrtime.bigint();
    const limit = BigInt(ms) * 1_000_000n;
    let elapsed = 0n;
    while (elapsed < limit) {
      for (let index = 0; index < slice; index++) operation();
      count += slice;
      elapsed = process.hrtime.bigint() - started;
    }
    return count / (Number(elapsed) / 1e9);
  };
  run(Math.max(50, Math.floor(durationMs / 10)));
  // Yield once so a caller's timers and I/O are not starved between operations.
  await new Promise((resolve) => setImmediate(resolve));
  return Math.round(run(durationMs));
}
