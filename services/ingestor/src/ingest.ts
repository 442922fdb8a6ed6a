/**
 * The ingestor's per-record logic, without Kafka: ingest value → canonical record.
 * Every failure caused by the record itself is a PipelineError with a record code
 * (dispositionOf → dead-letter it and go on); REGISTRY_UNAVAILABLE is retried and
 * CONFIG_INVALID means a source pack is broken: neither must be dead-lettered.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { type NormalizedPattern, type TopicNames, topicNames } from '@patternflow/records';
import type { SchemaCodec, SchemaDecoder } from '@patternflow/registry';
import { createAvroType, isConfluentFramed } from '@patternflow/registry';
import type { SourceAdapter } from '@patternflow/sources';
import type avro from 'avsc';
import { findJsonLimitViolation } from './json-limits.ts';

export interface IngestInput {
  topic: string;
  /** The Kafka record value, untouched. */
  value: Buffer | null;
  /** Kafka timestamp (ms); it becomes the record's ingest_time. */
  timestamp: number;
}

export interface IngestDecoderDeps {
  /** Every source this ingestor accepts, by name; each raw schema is compiled at construction. */
  adapters: ReadonlyMap<string, SourceAdapter>;
  codec: Pick<SchemaCodec, 'decoderFor'>;
  /** Values above this many bytes are dead-lettered unread. */
  maxValueBytes: number;
  /** Topic names of this pipeline (a test namespace); the contract names by default. */
  topics?: Pick<TopicNames, 'ingest' | 'ingestPrefix' | 'sourceOf'>;
}

export type IngestDecoder = (input: IngestInput) => Promise<NormalizedPattern>;

/** Everything about a source that is built once: its avsc Type, Avro decoder and default filler. */
interface SourceState {
  source: string;
  adapter: SourceAdapter;
  type: avro.Type;
  decoder: SchemaDecoder;
  fillDefaults: (raw: Record<string, unknown>) => void;
  hasBytes: boolean;
}

/** How much of an offending value a message quotes. */
const QUOTE_CHARS = 80;
/** How many validation problems one message lists. */
const MAX_ISSUES = 5;

export function createIngestDecoder(deps: IngestDecoderDeps): IngestDecoder {
  const { adapters, codec, maxValueBytes, topics = topicNames() } = deps;
  if (!Number.isInteger(maxValueBytes) || maxValueBytes <= 0) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `maxValueBytes must be a positive integer, got ${maxValueBytes}`,
    );
  }
  const byTopic = new Map<string, SourceState>();

  const buildState = (source: string, adapter: SourceAdapter): SourceState => {
    let type: avro.Type;
    try {
      type = createAvroType(adapter.rawSchema);
    } catch (error) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `raw schema of source '${source}' is not a valid Avro schema: ${(error as Error).message}`,
        { cause: error, details: { source } },
      );
    }
    return {
      source,
      adapter,
      type,
      decoder: codec.decoderFor(adapter.rawSchema),
      fillDefaults: defaultFiller(type),
      hasBytes: containsBytes(type, new Set()),
    };
  };

  // Every source is known now: a broken raw schema fails the start, not a record.
  for (const [source, adapter] of adapters) {
    byTopic.set(topics.ingest(source), buildState(source, adapter));
  }

  const stateFor = (topic: string): SourceState => {
    const known = byTopic.get(topic);
    if (known !== undefined) return known;
    const source = topics.sourceOf(topic);
    if (source === undefined) {
      throw new PipelineError(
        ErrorCodes.UNKNOWN_SOURCE,
        `topic ${topic} is not an ingest topic (${topics.ingestPrefix}<source>)`,
        { details: { topic } },
      );
    }
    throw new PipelineError(ErrorCodes.UNKNOWN_SOURCE, `no source pack for '${source}' (topic ${topic})`, {
      details: { topic, source },
    });
  };

  return async function decodeIngestRecord(input) {
    const state = stateFor(input.topic);
    const { value } = input;
    if (value === null || value.length === 0) {
      throw new PipelineError(
        ErrorCodes.VALUE_EMPTY,
        `record on ${input.topic} has ${value === null ? 'a null' : 'an empty'} value`,
        { details: { topic: input.topic } },
      );
    }
    if (value.length > maxValueBytes) {
      throw new PipelineError(
        ErrorCodes.VALUE_OVERSIZED,
        `value is ${value.length} bytes, above the limit of ${maxValueBytes} bytes`,
        { details: { bytes: value.length, maxValueBytes } },
      );
    }

    let raw: Record<string, unknown>;
    let payload: string;
    let payloadFormat: NormalizedPattern['payload_format'];
    let payloadSchemaId: number | null;
    if (isConfluentFramed(value)) {
      const decoded = await state.decoder.decode(value);
      raw = decoded.value as Record<string, unknown>;
      payload = state.hasBytes ? JSON.stringify(raw, bytesAsBase64) : JSON.stringify(raw);
      payloadFormat = 'AVRO';
      payloadSchemaId = decoded.schemaId;
    } else {
      payload = decodeUtf8(value);
      raw = parseJsonRecord(payload, state);
      payloadFormat = 'JSON';
      payloadSchemaId = null;
    }

    let core: ReturnType<SourceAdapter['normalize']>;
    try {
      core = state.adapter.normalize(raw);
    } catch (error) {
      if (error instanceof PipelineError) throw error;
      // An adapter that trips over a schema-valid record is a bug in the pack, but the
      // record is what triggers it: dead-letter it rather than crash-loop on it.
      throw new PipelineError(
        ErrorCodes.INVALID_FIELD,
        `source '${state.source}' could not normalize the record: ${(error as Error).message}`,
        { cause: error, details: { source: state.source } },
      );
    }
    return {
      ...core,
      ingest_time: input.timestamp,
      payload,
      payload_format: payloadFormat,
      payload_schema_id: payloadSchemaId,
    };
  };
}

const UTF8_BOM = '\uFEFF';

function decodeUtf8(value: Buffer): string {
  if (!isUtf8(value)) {
    const offset = firstInvalidUtf8Offset(value);
    throw new PipelineError(
      ErrorCodes.VALUE_NOT_DECODABLE,
      `value is neither Confluent-framed Avro nor UTF-8 text: invalid UTF-8 at byte ${offset}`,
      { details: { position: offset, bytes: value.length } },
    );
  }
  const text = value.toString('utf8');
  return text.startsWith(UTF8_BOM) ? text.slice(1) : text;
}

/**
 * Byte offset of the first malformed sequence. Only called on the error path: the prefix
 * before it decodes exactly, so the first U+FFFD that is not a literal EF BF BD marks it.
 */
function firstInvalidUtf8Offset(value: Buffer): number {
  const text = value.toString('utf8');
  let from = 0;
  for (;;) {
    const index = text.indexOf('\uFFFD', from);
    if (index < 0) return value.length;
    const offset = Buffer.byteLength(text.slice(0, index));
    if (value[offset] !== 0xef || value[offset + 1] !== 0xbf || value[offset + 2] !== 0xbd) {
      return offset;
    }
    from = index + 1;
  }
}

const LIMIT_CODES = {
  depth: ErrorCodes.VALUE_TOO_DEEP,
  width: ErrorCodes.VALUE_TOO_WIDE,
  length: ErrorCodes.VALUE_TOO_LONG,
  'forbidden-key': ErrorCodes.VALUE_FORBIDDEN_KEY,
} as const;

function parseJsonRecord(text: string, state: SourceState): Record<string, unknown> {
  // Before JSON.parse and the schema walk: their cost (and recursion) grows with exactly
  // what a hostile value maximises.
  const violation = findJsonLimitViolation(text);
  if (violation !== undefined) {
    throw new PipelineError(LIMIT_CODES[violation.kind], `value is refused: ${violation.message}`, {
      details: { position: violation.position },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // V8 says "… at position N" for most syntax errors and nothing for an early end.
    const message = (error as Error).message;
    const position = Number(/position (\d+)/.exec(message)?.[1] ?? text.length);
    throw new PipelineError(
      ErrorCodes.VALUE_NOT_DECODABLE,
      `value is not valid JSON at position ${position}: ${message}`,
      { cause: error, details: { position } },
    );
  }

  const issues: Array<{ path: string; value: unknown; type: avro.Type }> = [];
  // avsc only asks for typeof 'object', so an array would be read field by field
  // (a field named `at` then finds Array.prototype.at): reject it as a whole first.
  if (Array.isArray(parsed) && (state.type.typeName === 'record' || state.type.typeName === 'error')) {
    issues.push({ path: '', value: parsed, type: state.type });
    throw validationError(state, issues);
  }
  // The hook-free check is the fast path; a second pass collects the paths only on failure.
  if (!state.type.isValid(parsed)) {
    state.type.isValid(parsed, {
      errorHook: (path, value, type) => {
        if (issues.length < MAX_ISSUES) issues.push({ path: path.join('.'), value, type });
      },
    });
    throw validationError(state, issues);
  }

  const raw = parsed as Record<string, unknown>;
  state.fillDefaults(raw);
  return raw;
}

function validationError(
  state: SourceState,
  issues: Array<{ path: string; value: unknown; type: avro.Type }>,
): PipelineError {
  const first = issues[0];
  const describe = (issue: { path: string; value: unknown; type: avro.Type }): string =>
    issue.value === undefined
      ? `missing field ${issue.path} (${describeType(issue.type)})`
      : `${issue.path || '(root)'}: expected ${describeType(issue.type)}, got ${quote(issue.value)}`;
  const summary = issues.map(describe).join('; ');
  const details = {
    source: state.source,
    issues: issues.map((issue) => ({
      path: issue.path,
      expected: describeType(issue.type),
      ...(issue.value === undefined ? { missing: true } : { value: quote(issue.value) }),
    })),
  };
  if (first !== undefined && first.value === undefined) {
    return new PipelineError(
      ErrorCodes.MISSING_FIELD,
      `record does not match the '${state.source}' raw schema: ${summary}`,
      { details: { ...details, path: first.path } },
    );
  }
  return new PipelineError(
    ErrorCodes.SCHEMA_VIOLATION,
    `record does not match the '${state.source}' raw schema: ${summary}`,
    { details: { ...details, path: first?.path ?? '' } },
  );
}

function quote(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}…` : text;
}

function describeType(type: avro.Type): string {
  if (type instanceof Object && 'types' in type && Array.isArray((type as { types: unknown }).types)) {
    return (type as { types: avro.Type[] }).types.map(describeType).join(' | ');
  }
  switch (type.typeName) {
    case 'record':
    case 'error':
    case 'fixed':
      return `${type.typeName} ${type.name ?? ''}`.trim();
    case 'enum':
      return `enum ${type.name ?? ''} [${(type as avro.types.EnumType).symbols.join(', ')}]`;
    case 'array':
      return `array<${describeType((type as avro.types.ArrayType).itemsType)}>`;
    case 'map':
      return `map<${describeType((type as avro.types.MapType).valuesType as avro.Type)}>`;
    default:
      return type.typeName;
  }
}

/**
 * avsc accepts a JSON record that omits a field with a default; the Avro path fills such
 * fields in while resolving, so the JSON path does the same and adapters see one shape.
 * Defaults are filled in top-level and nested record fields (not inside arrays, maps or unions).
 */
function defaultFiller(type: avro.Type): (raw: Record<string, unknown>) => void {
  if (type.typeName !== 'record' && type.typeName !== 'error') return () => {};
  const fields = (type as avro.types.RecordType).fields;
  const withDefault = fields.filter((field) => field.defaultValue() !== undefined);
  const nested = fields
    .filter((field) => field.type.typeName === 'record' || field.type.typeName === 'error')
    .map((field) => ({ name: field.name, fill: defaultFiller(field.type) }));
  return (raw) => {
    for (const field of withDefault) {
      if (raw[field.name] === undefined) raw[field.name] = field.defaultValue();
    }
    for (const { name, fill } of nested) {
      const value = raw[name];
      if (value !== null && typeof value === 'object') fill(value as Record<string, unknown>);
    }
  };
}

/** True when a decoded value can hold Buffers (bytes/fixed), which JSON.stringify would mangle. */
function containsBytes(type: avro.Type, seen: Set<avro.Type>): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  switch (type.typeName) {
    case 'bytes':
    case 'fixed':
      return true;
    case 'record':
    case 'error':
      return (type as avro.types.RecordType).fields.some((field) => containsBytes(field.type, seen));
    case 'array':
      return containsBytes((type as avro.types.ArrayType).itemsType, seen);
    case 'map':
      return containsBytes((type as avro.types.MapType).valuesType as avro.Type, seen);
    default:
      return 'types' in type && Array.isArray((type as { types: unknown }).types)
        ? (type as { types: avro.Type[] }).types.some((branch) => containsBytes(branch, seen))
        : false;
  }
}

/** JSON.stringify replacer: Avro bytes/fixed become base64 strings instead of {"type":"Buffer",…}. */
function bytesAsBase64(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  return Buffer.isBuffer(original) ? original.toString('base64') : value;
}
