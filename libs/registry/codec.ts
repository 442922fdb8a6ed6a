import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type avro from 'avsc';
import { createAvroType } from './avro.ts';
import { confluentRegistryClient, type RegistryClient, type RegistryLink } from './client.ts';
import { HEADER_BYTES, MAGIC_BYTE } from './wire.ts';

export interface SchemaEncoder {
  /** Registry id written into every value's header. */
  readonly schemaId: number;
  /** Value → Confluent-framed Avro. Throws PipelineError SCHEMA_VIOLATION for an invalid value. */
  encode(value: unknown): Buffer;
}

export interface DecodedValue {
  /** Registry id of the schema the producer wrote with. */
  schemaId: number;
  /** The value in the reader schema's shape (records are avsc record instances). */
  value: unknown;
}

export interface SchemaDecoder {
  decode(buffer: Buffer): Promise<DecodedValue>;
}

/**
 * Encodes a schema that is another schema with fields appended (tagged = normalized +
 * inference, routed = tagged + route). An Avro record's body is its fields' bodies in
 * order, so such a value is the base value's body followed by the appended fields:
 * a stage that only adds fields re-frames its input instead of re-encoding it.
 */
export interface SchemaExtender {
  /** Registry id of the extended schema. */
  readonly schemaId: number;
  /** Registry id of the base schema, the only writer id `extend` accepts. */
  readonly baseSchemaId: number;
  /**
   * `baseFrame` (Confluent-framed, written with baseSchemaId, already decoded once so
   * known to be well-formed) plus the appended fields → the extended value. Undefined
   * when the frame was written with another schema: encode the whole value instead.
   */
  extend(baseFrame: Buffer, appended: Record<string, unknown>): Buffer | undefined;
}

export interface SchemaCodec {
  /** Registers `schema` under `subject` unless it is there already; resolves to its id. */
  register(subject: string, schema: object): Promise<number>;
  /** Registers once, then encodes synchronously with a cached avsc Type. */
  encoderFor(subject: string, schema: object): Promise<SchemaEncoder>;
  /** Decodes any writer schema version that resolves into `readerSchema`. */
  decoderFor(readerSchema: object): SchemaDecoder;
  /**
   * Decodes a Confluent-framed value with its writer's own schema, whatever that is: for
   * tools that show records (the CLI's `tail`, `dlq show`) rather than read them as a type.
   */
  decodeAsWritten(buffer: Buffer): Promise<DecodedValue>;
  /** See SchemaExtender; CONFIG_INVALID when `schema` does not start with every field of `baseSchema`. */
  extenderFor(
    subject: string,
    schema: object,
    baseSubject: string,
    baseSchema: object,
  ): Promise<SchemaExtender>;
}

/** The registry to use: its URL, and for a secured one its basic-auth credentials and CA. */
export type SchemaCodecOptions = RegistryLink;

export function createSchemaCodec(options: SchemaCodecOptions): SchemaCodec {
  return createCodecOnClient(confluentRegistryClient(options));
}

/** How long an "unknown schema id" answer is remembered, so a stream of such records costs one request per window. */
const UNKNOWN_ID_MEMORY_MS = 10_000;

type ReadBody = (buffer: Buffer) => unknown;

export function createCodecOnClient(client: RegistryClient): SchemaCodec {
  const registrations = new Map<string, Promise<number>>();
  // Writer types per registry id, shared by every decoder of this codec. The promise is
  // stored before the request is answered, so concurrent first lookups of an id share it.
  const writerTypes = new Map<number, Promise<avro.Type>>();

  function register(subject: string, schema: object): Promise<number> {
    const key = `${subject}\u0000${JSON.stringify(schema)}`;
    let pending = registrations.get(key);
    if (pending === undefined) {
      pending = registerValidated(subject, schema);
      registrations.set(key, pending);
      pending.catch(() => registrations.delete(key));
    }
    return pending;
  }

  async function registerValidated(subject: string, schema: object): Promise<number> {
    try {
      createAvroType(schema);
    } catch (error) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `schema for ${subject} is not a valid Avro schema: ${(error as Error).message}`,
        { cause: error, details: { subject } },
      );
    }
    return client.register(subject, schema);
  }

  function writerType(schemaId: number): Promise<avro.Type> {
    let pending = writerTypes.get(schemaId);
    if (pending === undefined) {
      pending = client.writerSchema(schemaId).then((schema) => {
        try {
          return createAvroType(schema);
        } catch (error) {
          throw new PipelineError(
            ErrorCodes.SCHEMA_VIOLATION,
            `schema id ${schemaId} from the registry is not a usable Avro schema: ${(error as Error).message}`,
            { cause: error, details: { schemaId } },
          );
        }
      });
      writerTypes.set(schemaId, pending);
      pending.catch((error: unknown) => {
        // A registry outage must not stick; an unknown id is remembered for a short while.
        if (error instanceof PipelineError && error.code === ErrorCodes.UNKNOWN_SCHEMA_ID) {
          setTimeout(() => writerTypes.delete(schemaId), UNKNOWN_ID_MEMORY_MS).unref();
        } else {
          writerTypes.delete(schemaId);
        }
      });
    }
    return pending;
  }

  async function encoderFor(subject: string, schema: object): Promise<SchemaEncoder> {
    const schemaId = await register(subject, schema);
    return createEncoder(schemaId, createAvroType(schema));
  }

  function decoderFor(readerSchema: object): SchemaDecoder {
    const reader = createAvroType(readerSchema);
    // Resolved body readers per writer id: after the first record of a schema version,
    // decode is a Map lookup plus avsc's decode.
    const readers = new Map<number, ReadBody>();
    const pendingReaders = new Map<number, Promise<ReadBody>>();

    const readerFor = (schemaId: number): Promise<ReadBody> => {
      let pending = pendingReaders.get(schemaId);
      if (pending === undefined) {
        pending = writerType(schemaId).then((writer) => {
          const readBody = createBodyReader(schemaId, writer, reader);
          readers.set(schemaId, readBody);
          return readBody;
        });
        pendingReaders.set(schemaId, pending);
        pending.then(
          () => pendingReaders.delete(schemaId),
          () => pendingReaders.delete(schemaId),
        );
      }
      return pending;
    };

    return {
      async decode(buffer) {
        const schemaId = frameSchemaId(buffer);
        const readBody = readers.get(schemaId) ?? (await readerFor(schemaId));
        return { schemaId, value: readBody(buffer) };
      },
    };
  }

  async function extenderFor(
    subject: string,
    schema: object,
    baseSubject: string,
    baseSchema: object,
  ): Promise<SchemaExtender> {
    const fields = recordFields(schema, subject);
    const baseFields = recordFields(baseSchema, baseSubject);
    const prefixMatches =
      baseFields.length < fields.length &&
      baseFields.every((field, i) => JSON.stringify(field) === JSON.stringify(fields[i]));
    if (!prefixMatches) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `schema for ${subject} does not extend the schema of ${baseSubject}: it must start with the same fields, in order`,
        { details: { subject, baseSubject } },
      );
    }
    const tail = createAvroType({
      type: 'record',
      name: 'AppendedFields',
      namespace: 'dev.patternflow.internal',
      fields: fields.slice(baseFields.length),
    });
    const [schemaId, baseSchemaId] = await Promise.all([
      register(subject, schema),
      register(baseSubject, baseSchema),
    ]);
    const encodeTail = createEncoder(schemaId, tail);
    return {
      schemaId,
      baseSchemaId,
      extend(baseFrame, appended) {
        if (baseFrame.length < HEADER_BYTES || baseFrame.readInt32BE(1) !== baseSchemaId) return undefined;
        // encodeTail's output is header + tail body; keep its header (our schema id).
        const framedTail = encodeTail.encode(appended);
        const out = Buffer.allocUnsafe(baseFrame.length + framedTail.length - HEADER_BYTES);
        framedTail.copy(out, 0, 0, HEADER_BYTES);
        baseFrame.copy(out, HEADER_BYTES, HEADER_BYTES);
        framedTail.copy(out, baseFrame.length, HEADER_BYTES);
        return out;
      },
    };
  }

  // Bodies read with their writer's own schema, per writer id (decodeAsWritten).
  const asWritten = new Map<number, Promise<ReadBody>>();

  async function decodeAsWritten(buffer: Buffer): Promise<DecodedValue> {
    const schemaId = frameSchemaId(buffer);
    let pending = asWritten.get(schemaId);
    if (pending === undefined) {
      pending = writerType(schemaId).then((writer) => createBodyReader(schemaId, writer, writer));
      asWritten.set(schemaId, pending);
      pending.catch(() => asWritten.delete(schemaId));
    }
    const readBody = await pending;
    return { schemaId, value: readBody(buffer) };
  }

  return { register, encoderFor, decoderFor, extenderFor, decodeAsWritten };
}

/** The writer schema id of a Confluent-framed value; VALUE_NOT_DECODABLE when it is not one. */
function frameSchemaId(buffer: Buffer): number {
  if (buffer.length < HEADER_BYTES) {
    throw new PipelineError(
      ErrorCodes.VALUE_NOT_DECODABLE,
      `value has ${buffer.length} bytes; a Confluent-framed value needs at least ${HEADER_BYTES}`,
      { details: { bytes: buffer.length } },
    );
  }
  if (buffer[0] !== MAGIC_BYTE) {
    throw new PipelineError(
      ErrorCodes.VALUE_NOT_DECODABLE,
      `value starts with byte ${buffer[0]}, not the Confluent magic byte ${MAGIC_BYTE}`,
      { details: { magicByte: buffer[0] } },
    );
  }
  return buffer.readInt32BE(1);
}

function recordFields(schema: object, subject: string): unknown[] {
  const fields = (schema as { type?: unknown; fields?: unknown }).fields;
  if ((schema as { type?: unknown }).type !== 'record' || !Array.isArray(fields)) {
    throw new PipelineError(ErrorCodes.CONFIG_INVALID, `schema for ${subject} is not an Avro record schema`, {
      details: { subject },
    });
  }
  return fields;
}

/** Writer → reader resolution is decided once per writer id; incompatibility is remembered as such. */
function createBodyReader(schemaId: number, writer: avro.Type, reader: avro.Type): ReadBody {
  let resolver: avro.Resolver | undefined;
  if (!writer.equals(reader)) {
    try {
      resolver = reader.createResolver(writer);
    } catch (error) {
      const reason = (error as Error).message;
      return () => {
        throw new PipelineError(
          ErrorCodes.SCHEMA_VIOLATION,
          `writer schema id ${schemaId} cannot be read as ${reader.name ?? reader.typeName}: ${reason}`,
          { cause: error, details: { schemaId } },
        );
      };
    }
  }
  return (buffer) => {
    let decoded: { value: unknown; offset: number };
    try {
      decoded = reader.decode(buffer, HEADER_BYTES, resolver);
    } catch (error) {
      throw notDecodable(schemaId, buffer, (error as Error).message, error);
    }
    if (decoded.offset < 0) {
      throw notDecodable(schemaId, buffer, 'Avro body is truncated');
    }
    if (decoded.offset !== buffer.length) {
      throw notDecodable(
        schemaId,
        buffer,
        `${buffer.length - decoded.offset} trailing bytes after the Avro body`,
      );
    }
    return decoded.value;
  };
}

function notDecodable(schemaId: number, buffer: Buffer, reason: string, cause?: unknown): PipelineError {
  return new PipelineError(
    ErrorCodes.VALUE_NOT_DECODABLE,
    `Avro body of ${buffer.length - HEADER_BYTES} bytes does not decode with writer schema id ${schemaId}: ${reason}`,
    { cause, details: { schemaId, bytes: buffer.length } },
  );
}

/**
 * One exactly-sized Buffer per value: avsc writes the body into a scratch buffer right
 * behind the header, which is then copied out once (the scratch is reused, so the returned
 * Buffer must never alias it: a producer may still hold the previous one).
 */
function createEncoder(schemaId: number, type: avro.Type): SchemaEncoder {
  let scratch = Buffer.allocUnsafe(4096);
  const writeHeader = (target: Buffer): void => {
    target[0] = MAGIC_BYTE;
    target.writeInt32BE(schemaId, 1);
  };
  writeHeader(scratch);
  return {
    schemaId,
    encode(value) {
      let end: number;
      try {
        end = type.encode(value, scratch, HEADER_BYTES);
        if (end < 0) {
          // avsc returns minus the number of missing bytes.
          scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
          writeHeader(scratch);
          end = type.encode(value, scratch, HEADER_BYTES);
        }
      } catch (error) {
        throw invalidValue(schemaId, type, value, error);
      }
      const out = Buffer.allocUnsafe(end);
      scratch.copy(out, 0, 0, end);
      return out;
    },
  };
}

function invalidValue(schemaId: number, type: avro.Type, value: unknown, cause: unknown): PipelineError {
  const paths: string[] = [];
  type.isValid(value, { errorHook: (path) => paths.push(path.join('.') || '(root)') });
  return new PipelineError(
    ErrorCodes.SCHEMA_VIOLATION,
    `value does not match schema id ${schemaId}${paths.length > 0 ? ` at ${paths.join(', ')}` : ''}: ${(cause as Error).message}`,
    { cause, details: { schemaId, paths } },
  );
}
