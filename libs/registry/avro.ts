import avro from 'avsc';

/**
 * The one way patternflow builds avsc Types, so that the JSON validation of the ingestor,
 * the codec's decoders and its encoders agree on what a value looks like:
 * - no logical type implementations: timestamp-millis stays a plain number of ms;
 * - unions never wrapped: a union value is the bare branch value (`null`, `12.5`, `"x"`),
 *   which is what JSON producers send.
 */
export function createAvroType(schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false });
}

/** avsc builds a type from an already-built Type too; this tells the two apart. */
export function isAvroType(value: unknown): value is avro.Type {
  return avro.Type.isType(value);
}
