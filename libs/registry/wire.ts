/**
 * The Confluent wire format: magic byte 0, the writer schema's registry id as a 4-byte
 * big-endian integer, then the Avro binary body. Every standard Confluent serializer
 * (Java, librdkafka, @kafkajs/confluent-schema-registry …) writes exactly this.
 */
export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

/** True when the buffer can be a Confluent-framed value (a JSON text never starts with byte 0). */
export function isConfluentFramed(buffer: Buffer): boolean {
  return buffer.length >= HEADER_BYTES && buffer[0] === MAGIC_BYTE;
}
