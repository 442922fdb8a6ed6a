/**
 * Which snappy and lz4 implementations the Kafka codecs use: compress and decompress
 * throughput of the candidates on one realistic batch, against gzip and zstd (node:zlib).
 *
 * The batch is what a stage fetches: 500 canonical records of generated events
 * (@patternflow/generators), Avro-encoded with schemas/normalized.avsc (the
 * patterns.normalized payload), or as JSON (an ingest topic's payload). Only the part
 * that differs between candidates is timed: snappy's raw blocks in 32 KiB chunks (the
 * xerial framing around them is a few copies, the same for both) and lz4's frame.
 *
 *   node bench/limits/compression.ts [--ms=1500] [--json]
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { DEFAULT_START_TIME, generateEvents } from '@patternflow/generators';
import { loadSchema, type NormalizedPattern } from '@patternflow/records';
import { getSourceAdapter } from '@patternflow/sources';
import avro from 'avsc';
import * as lz4napi from 'lz4-napi';
import lz4js from 'lz4js';
import * as snappyNapi from 'snappy';
import snappyjs from 'snappyjs';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

/** Java's SnappyOutputStream (snappy-java) cuts its input into blocks of this size. */
const SNAPPY_BLOCK = 32 * 1024;

function inBlocks(input: Buffer, each: (block: Buffer) => Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < input.length; offset += SNAPPY_BLOCK) {
    out.push(each(input.subarray(offset, offset + SNAPPY_BLOCK)));
  }
  return out;
}

async function inBlocksAsync(input: Buffer, each: (block: Buffer) => Promise<Buffer>): Promise<Buffer[]> {
  const out: Promise<Buffer>[] = [];
  for (let offset = 0; offset < input.length; offset += SNAPPY_BLOCK) {
    out.push(each(input.subarray(offset, offset + SNAPPY_BLOCK)));
  }
  return Promise.all(out);
}

/** A snappy implementation, timed on the raw blocks it makes of one batch. */
interface SnappyCandidate {
  name: string;
  compressBlocks(input: Buffer): Promise<Buffer[]>;
  /** Total uncompressed bytes, so a broken round trip is caught. */
  decompressBlocks(blocks: Buffer[]): Promise<number>;
}

const total = (buffers: readonly Uint8Array[]): number => buffers.reduce((n, b) => n + b.length, 0);

const SNAPPY_CANDIDATES: readonly SnappyCandidate[] = [
  {
    name: 'snappy (napi-rs, sync)',
    compressBlocks: async (input) => inBlocks(input, (block) => snappyNapi.compressSync(block)),
    decompressBlocks: async (blocks) => total(blocks.map((b) => snappyNapi.uncompressSync(b) as Buffer)),
  },
  {
    name: 'snappy (napi-rs, async)',
    compressBlocks: (input) => inBlocksAsync(input, (block) => snappyNapi.compress(block)),
    decompressBlocks: async (blocks) =>
      total((await Promise.all(blocks.map((b) => snappyNapi.uncompress(b)))) as Buffer[]),
  },
  {
    name: 'snappyjs (pure JS)',
    compressBlocks: async (input) => inBlocks(input, (block) => Buffer.from(snappyjs.compress(block))),
    decompressBlocks: async (blocks) => total(blocks.map((b) => snappyjs.uncompress(b))),
  },
];

export interface CompressionRow {
  codec: string;
  ratio: number;
  compressMbPerSec: number;
  decompressMbPerSec: number;
}

export interface CompressionResult {
  records: number;
  payloads: { name: string; bytes: number; rows: CompressionRow[] }[];
  units: {
    mbPerSec: 'MB/s of uncompressed batch bytes (10^6), one core';
    ratio: 'uncompressed / compressed';
  };
}

/** 500 generated events (all sources), normalized, as one Avro batch and one JSON batch. */
export function sampleBatches(count = 500): { avro: Buffer; json: Buffer } {
  const type = avro.Type.forSchema(loadSchema('normalized') as avro.Schema);
  const avroValues: Buffer[] = [];
  const jsonValues: Buffer[] = [];
  for (const { source, event } of generateEvents({ seed: 9, count })) {
    const payload = JSON.stringify(event);
    // What the ingestor writes to patterns.normalized for a JSON ingest value.
    const record: NormalizedPattern = {
      ...getSourceAdapter(source)!.normalize(event),
      ingest_time: DEFAULT_START_TIME,
      payload,
      payload_format: 'JSON',
      payload_schema_id: null,
    };
    // Each value travels with its key (the record id), as in a Kafka record batch.
    avroValues.push(Buffer.from(record.id), type.toBuffer(record));
    jsonValues.push(Buffer.from(record.id), Buffer.from(payload));
  }
  return { avro: Buffer.concat(avroValues), json: Buffer.concat(jsonValues) };
}

async function rate(durationMs: number, bytes: number, operation: () => Promise<unknown>): Promise<number> {
  const warmUntil = performance.now() + durationMs / 5;
  while (performance.now() < warmUntil) await operation();
  let count = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    await operation();
    count += 1;
    elapsed = performance.now() - started;
  }
  return Math.round(((count * bytes) / (elapsed / 1000) / 1e6) * 10) / 10;
}

async function measureOne(
  durationMs: number,
  input: Buffer,
  name: string,
  compress: () => Promise<Buffer>,
  decompress: (compressed: Buffer) => Promise<number>,
  compressedSize: number,
): Promise<CompressionRow> {
  const sample = await compress();
  // A candidate that does not round-trip would be measured doing different work.
  if ((await decompress(sample)) !== input.length) throw new Error(`${name} does not round-trip`);
  return {
    codec: name,
    ratio: Math.round((input.length / compressedSize) * 100) / 100,
    compressMbPerSec: await rate(durationMs, input.length, compress),
    decompressMbPerSec: await rate(durationMs, input.length, () => decompress(sample)),
  };
}

export async function measureCompression(durationMs = 1500): Promise<CompressionResult> {
  const batches = sampleBatches();
  const payloads: CompressionResult['payloads'] = [];
  for (const [name, input] of Object.entries(batches)) {
    const rows: CompressionRow[] = [];

    const gz = await gzip(input);
    rows.push(
      await measureOne(
        durationMs,
        input,
        'gzip (node:zlib)',
        () => gzip(input),
        async (c) => (await gunzip(c)).length,
        gz.length,
      ),
    );
    const zs = await zstdCompress(input);
    rows.push(
      await measureOne(
        durationMs,
        input,
        'zstd (node:zlib)',
        () => zstdCompress(input),
        async (c) => (await zstdDecompress(c)).length,
        zs.length,
      ),
    );

    for (const candidate of SNAPPY_CANDIDATES) {
      const blocks = await candidate.compressBlocks(input);
      rows.push(
        await measureOne(
          durationMs,
          input,
          candidate.name,
          async () => Buffer.concat(await candidate.compressBlocks(input)),
          () => candidate.decompressBlocks(blocks),
          total(blocks),
        ),
      );
    }

    const lzNapi = await lz4napi.compressFrame(input);
    rows.push(
      await measureOne(
        durationMs,
        input,
        'lz4-napi (frame, async)',
        () => lz4napi.compressFrame(input),
        async (c) => (await lz4napi.decompressFrame(c)).length,
        lzNapi.length,
      ),
    );
    rows.push(
      await measureOne(
        durationMs,
        input,
        'lz4-napi (frame, sync)',
        async () => lz4napi.compressFrameSync(input),
        async (c) => lz4napi.decompressFrameSync(c).length,
        lzNapi.length,
      ),
    );
    const lzJs = Buffer.from(lz4js.compress(input));
    rows.push(
      await measureOne(
        durationMs,
        input,
        'lz4js (frame, pure JS)',
        async () => Buffer.from(lz4js.compress(input)),
        async (c) => lz4js.decompress(c).length,
        lzJs.length,
      ),
    );
    payloads.push({ name, bytes: input.length, rows });
  }
  return {
    records: 500,
    payloads,
    units: {
      mbPerSec: 'MB/s of uncompressed batch bytes (10^6), one core',
      ratio: 'uncompressed / compressed',
    },
  };
}

if (import.meta.main) {
  const msArg = process.argv.find((arg) => arg.startsWith('--ms='));
  const result = await measureCompression(msArg ? Number(msArg.slice(5)) : 1500);
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    for (const payload of result.payloads) {
      console.log(`\n${payload.name} batch: ${result.records} records, ${payload.bytes} bytes`);
      console.log('codec                        ratio  compress MB/s  decompress MB/s');
      for (const row of payload.rows) {
        console.log(
          `${row.codec.padEnd(28)} ${String(row.ratio).padStart(5)}  ${String(row.compressMbPerSec).padStart(13)}  ${String(row.decompressMbPerSec).padStart(15)}`,
        );
      }
    }
  }
}
