import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import kafkajs, { CompressionTypes } from 'kafkajs';
import { compressSync as rawSnappy } from 'snappy';
import {
  compressionTypeOf,
  compressLz4,
  compressSnappy,
  compressZstd,
  decompressLz4,
  decompressSnappy,
  decompressZstd,
  OUTPUT_COMPRESSIONS,
  registerCompressionCodecs,
} from './codecs.ts';

/** Compressible but not trivial: repeated JSON-like text with random ids, ~100 KB. */
function sampleBatch(bytes = 100_000): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  while (size < bytes) {
    const part = Buffer.from(
      `{"id":"${randomBytes(8).toString('hex')}","amount":${size % 977},"currency":"EUR","merchant":"m_${size % 31}"}`,
    );
    parts.push(part);
    size += part.length;
  }
  return Buffer.concat(parts);
}

const { CompressionCodecs } = kafkajs;
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

test('snappy is written xerial-framed, as the Java client does: header, then [length][block] per 32 KiB', async () => {
  const input = sampleBatch();
  const framed = await compressSnappy(input);
  assert.deepEqual(framed.subarray(0, 8), XERIAL_MAGIC);
  assert.equal(framed.readInt32BE(8), 1, 'version');
  assert.equal(framed.readInt32BE(12), 1, 'minimum compatible version');
  let offset = 16;
  let blocks = 0;
  while (offset < framed.length) {
    offset += 4 + framed.readInt32BE(offset);
    blocks += 1;
  }
  assert.equal(offset, framed.length, 'the blocks tile the frame exactly');
  assert.equal(blocks, Math.ceil(input.length / (32 * 1024)));
  assert.deepEqual(await decompressSnappy(framed), input);
});

test('snappy decompression also takes one raw block, as librdkafka writes it', async () => {
  const input = sampleBatch(20_000);
  assert.deepEqual(await decompressSnappy(rawSnappy(input)), input);
});

test('a hand-built xerial frame of two blocks (what snappy-java writes) decompresses to their concatenation', async () => {
  const first = Buffer.from('first block '.repeat(50));
  const second = Buffer.from('second block '.repeat(40));
  const header = Buffer.concat([XERIAL_MAGIC, Buffer.from([0, 0, 0, 1, 0, 0, 0, 1])]);
  const block = (data: Buffer) => {
    const compressed = rawSnappy(data);
    const length = Buffer.alloc(4);
    length.writeInt32BE(compressed.length);
    return Buffer.concat([length, compressed]);
  };
  const framed = Buffer.concat([header, block(first), block(second)]);
  assert.deepEqual(await decompressSnappy(framed), Buffer.concat([first, second]));
});

test('a truncated xerial frame is refused with where it broke, not read past its end', async () => {
  const framed = await compressSnappy(sampleBatch(40_000));
  await assert.rejects(decompressSnappy(framed.subarray(0, framed.length - 10)), /overruns the/);
  await assert.rejects(decompressSnappy(framed.subarray(0, 18)), /truncated xerial block length/);
});

test('lz4 writes a frame (KIP-57): magic 0x184D2204, version 01, independent blocks of 64 KiB..4 MiB, and reads it back', async () => {
  const input = sampleBatch();
  const frame = await compressLz4(input);
  assert.equal(frame.readUInt32LE(0), 0x184d2204);
  const flags = frame[4]!;
  assert.equal(flags >> 6, 0b01, 'frame version 01');
  assert.equal((flags >> 5) & 1, 1, 'blocks are independent: the Java client decodes each block alone');
  const blockSizeId = (frame[5]! >> 4) & 0b111;
  // KafkaLZ4BlockInputStream accepts the four sizes of the LZ4 frame spec: 64 KiB (4) .. 4 MiB (7).
  assert.ok(blockSizeId >= 4 && blockSizeId <= 7, `block maximum size id ${blockSizeId}`);
  assert.deepEqual(await decompressLz4(frame), input);
});

test('zstd round-trips through node:zlib', async () => {
  const input = sampleBatch();
  const compressed = await compressZstd(input);
  assert.ok(compressed.length < input.length / 2);
  assert.deepEqual(await decompressZstd(compressed), input);
});

test('registration puts all three codecs into kafkajs, idempotently, and each round-trips through it', async () => {
  registerCompressionCodecs();
  registerCompressionCodecs();
  const input = sampleBatch(10_000);
  for (const type of [CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD] as const) {
    const codec = CompressionCodecs[type]();
    const compressed: Buffer = await codec.compress({ buffer: input });
    assert.deepEqual(await codec.decompress(compressed), input, `codec ${type}`);
  }
  // gzip stays kafkajs's own.
  const gzip = CompressionCodecs[CompressionTypes.GZIP]();
  assert.deepEqual(await gzip.decompress(await gzip.compress({ buffer: input })), input);
});

test('every PF_COMPRESSION name maps to its kafkajs compression attribute', () => {
  assert.deepEqual(
    OUTPUT_COMPRESSIONS.map((name) => compressionTypeOf(name)),
    [
      CompressionTypes.None,
      CompressionTypes.GZIP,
      CompressionTypes.Snappy,
      CompressionTypes.LZ4,
      CompressionTypes.ZSTD,
    ],
  );
});
