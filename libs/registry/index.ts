export { createAvroType } from './avro.ts';
export { confluentRegistryArgs, type RegistryLink } from './client.ts';
export type {
  DecodedValue,
  SchemaCodec,
  SchemaCodecOptions,
  SchemaDecoder,
  SchemaEncoder,
  SchemaExtender,
} from './codec.ts';
export { createSchemaCodec } from './codec.ts';
export { isConfluentFramed } from './wire.ts';
