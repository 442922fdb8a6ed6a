/**
 * Kafka's compression codecs for kafkajs, which ships gzip only: without these, a consumer
 * that fetches one snappy, lz4 or zstd batch throws KafkaJSNotImplemented and the stage
 * exits. Producers are strangers and choose their codec; every client the project makes
 * must read all four and may write any of them.
 *
 * Implementations (chosen by bench/limits/compression.ts, see docs/performance.md):
 * snappy blocks by `snappy` (napi-rs), lz4 frames by `lz4-napi`, zstd by Node's own zlib.
 * The async variants run on libuv's thread pool, off the event loop.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import kafkajs, { CompressionTypes } from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';
import { compress as snappyCompress, uncompress as snappyUncompress } from 'snappy';

// kafkajs's CommonJS exports hide CompressionCodecs from Node's ESM named-export detection.
const { CompressionCodecs } = kafkajs;
const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

/** What kafkajs calls: compress gets its Encoder (the records' bytes in `buffer`). */
interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/**
 * snappy-java's stream header ("xerial" framing), which the Java client writes: magic
 * 0x82 'SNAPPY' 0x00, then version and minimum compatible version as big-endian int32
 * (both 1). Blocks follow as [int32 BE compressed length][raw snappy block].
 */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
const XERIAL_VERSION = 1;
const XERIAL_COMPATIBLE_VERSION = 1;
/** SnappyOutputStream's default block, as the Java client uses it. */
const XERIAL_BLOCK_BYTES = 32 * 1024;

function isXerialFramed(buffer: Buffer): boolean {
  return buffer.length >= XERIAL_HEADER_BYTES && buffer.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

/**
 * Xerial-framed snappy, as the Java client writes it, so that whatever reads Java
 * producers' batches reads ours (test/e2e/compression.test.ts: the Java console consumer).
 */
export async function compressSnappy(input: Buffer): Promise<Buffer> {
  const header = Buffer.alloc(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(XERIAL_VERSION, 8);
  header.writeInt32BE(XERIAL_COMPATIBLE_VERSION, 12);
  const pending: Promise<Buffer>[] = [];
  for (let offset = 0; offset < input.length; offset += XERIAL_BLOCK_BYTES) {
    pending.push(snappyCompress(input.subarray(offset, offset + XERIAL_BLOCK_BYTES)));
  }
  const parts: Buffer[] = [header];
  for (const block of await Promise.all(pending)) {
    const length = Buffer.alloc(4);
    length.writeInt32BE(block.length, 0);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

/** Xerial-framed snappy (Java producers) or one raw snappy block (librdkafka producers). */
export async function decompressSnappy(input: Buffer): Promise<Buffer> {
  if (!isXerialFramed(input)) return (await snappyUncompress(input)) as Buffer;
  const pending: Promise<string | Buffer>[] = [];
  let offset = XERIAL_HEADER_BYTES;
  while (offset < input.length) {
    if (offset + 4 > input.length) {
      throw new Error(`snappy: truncated xerial block length at byte ${offset} of ${input.length}`);
    }
    const length = input.readInt32BE(offset);
    offset += 4;
    if (length < 0 || offset + length > input.length) {
      throw new Error(
        `snappy: xerial block of ${length} bytes at byte ${offset} overruns the ${input.length}-byte batch`,
      );
    }
    pending.push(snappyUncompress(input.subarray(offset, offset + length)));
    offset += length;
  }
  return Buffer.concat((await Promise.all(pending)) as Buffer[]);
}

/**
 * The LZ4 frame format (KIP-57), with lz4_flex's defaults: independent blocks (the Java
 * client's KafkaLZ4BlockInputStream decodes each block alone) of 64 KiB to 4 MiB depending
 * on the input, no checksums but the header's. test/integration/compression.test.ts reads
 * our frames back with the Java console consumer.
 */
export function compressLz4(input: Buffer): Promise<Buffer> {
  return compressFrame(input);
}

export function decompressLz4(input: Buffer): Promise<Buffer> {
  return decompressFrame(input);
}

export function compressZstd(input: Buffer): Promise<Buffer> {
  return zstdCompress(input);
}

export function decompressZstd(input: Buffer): Promise<Buffer> {
  return zstdDecompress(input);
}

/** What PF_COMPRESSION may name: the codec of the batches a stage produces. */
export const OUTPUT_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type OutputCompression = (typeof OUTPUT_COMPRESSIONS)[number];

const COMPRESSION_TYPE: Readonly<Record<OutputCompression, CompressionTypes>> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** kafkajs's compression attribute for a codec name. */
export function compressionTypeOf(name: OutputCompression): CompressionTypes {
  return COMPRESSION_TYPE[name];
}

type CodecType = CompressionTypes.Snappy | CompressionTypes.LZ4 | CompressionTypes.ZSTD;

const CODECS: ReadonlyArray<[CodecType, KafkaCodec]> = [
  [
    CompressionTypes.Snappy,
    { compress: (encoder) => compressSnappy(encoder.buffer), decompress: decompressSnappy },
  ],
  [CompressionTypes.LZ4, { compress: (encoder) => compressLz4(encoder.buffer), decompress: decompressLz4 }],
  [
    CompressionTypes.ZSTD,
    { compress: (encoder) => compressZstd(encoder.buffer), decompress: decompressZstd },
  ],
];

/**
 * Puts snappy, lz4 and zstd into kafkajs's process-wide CompressionCodecs registry (gzip is
 * built in). Idempotent: createKafka calls it for every client, so any Kafka client the
 * project makes — services, tools, tests — reads and writes all four codecs.
 */
export function registerCompressionCodecs(): void {
  for (const [type, codec] of CODECS) {
    CompressionCodecs[type] = () => codec;
  }
}
