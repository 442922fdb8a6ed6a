/**
 * A record's value as a person wants to see it: Confluent-framed Avro decoded through the
 * registry with its writer's schema, JSON parsed, other text as text, anything else as
 * bytes. Never throws for a value: a value that cannot be decoded is shown as bytes, with why.
 */
import { isUtf8 } from 'node:buffer';
import type { SchemaCodec } from '@patternflow/registry';
import { isConfluentFramed } from '@patternflow/registry';

export type ValueFormat = 'null' | 'empty' | 'avro' | 'json' | 'text' | 'binary';

export interface ShownValue {
  readonly format: ValueFormat;
  /** avro/json: the decoded value as plain JSON data; text: the string; binary: undefined. */
  readonly value?: unknown;
  /** avro: the writer schema's registry id. */
  readonly schemaId?: number;
  /** Why a value that looked like Avro (or JSON too deep to show) is shown as bytes or text. */
  readonly note?: string;
  readonly bytes: number;
}

/** JSON nested deeper than this is shown as text: printing it would cost a deep recursion. */
const MAX_JSON_DEPTH = 64;

export async function decodeValue(
  buffer: Buffer | null,
  codec: Pick<SchemaCodec, 'decodeAsWritten'>,
): Promise<ShownValue> {
  if (buffer === null) return { format: 'null', bytes: 0 };
  if (buffer.length === 0) return { format: 'empty', bytes: 0 };
  if (isConfluentFramed(buffer)) {
    try {
      const decoded = await codec.decodeAsWritten(buffer);
      return {
        format: 'avro',
        value: toPlain(decoded.value),
        schemaId: decoded.schemaId,
        bytes: buffer.length,
      };
    } catch (error) {
      // A registry outage, an unknown id, a garbled body: still show the bytes, and why.
      return { format: 'binary', note: (error as Error).message, bytes: buffer.length };
    }
  }
  if (!isUtf8(buffer)) return { format: 'binary', bytes: buffer.length };
  const text = buffer.toString('utf8');
  const json = parseJson(text);
  if (json.ok) return { format: 'json', value: json.value, bytes: buffer.length };
  return { format: 'text', value: text, bytes: buffer.length, ...(json.note ? { note: json.note } : {}) };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; note?: string } {
  const start = text.trimStart()[0];
  // Bare words and numbers are text to a reader ("ok", "42" in a log topic); objects,
  // arrays and strings are JSON.
  if (start !== '{' && start !== '[' && start !== '"') return { ok: false };
  if (nestingDepth(text) > MAX_JSON_DEPTH) {
    return { ok: false, note: `JSON nested deeper than ${MAX_JSON_DEPTH} levels, shown as text` };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** Deepest bracket nesting outside strings: an upper bound on the parsed value's depth. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/**
 * avsc's values as plain JSON data: record instances become objects, bytes and fixed
 * become base64 strings (as the ingestor stores Avro payloads), bigints decimal strings.
 */
export function toPlain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === 'object') {
    // fromEntries defines own properties: an Avro map key "__proto__" stays a key.
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, toPlain(item)]));
  }
  return value;
}
