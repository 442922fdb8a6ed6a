/**
 * How records reach a terminal or a script. Record contents are hostile input: keys,
 * headers and values are printed with every character a terminal could act on escaped
 * (cli/src/terminal.ts), so no record can rewrite the screen.
 */
import { isUtf8 } from 'node:buffer';
import type { IHeaders } from 'kafkajs';
import { escapeControls, terminalSafeJson } from '../terminal.ts';
import type { ShownValue } from './decode.ts';

export { escapeControls } from '../terminal.ts';

/** One line of JSON, safe on a terminal (see terminalSafeJson). */
export function safeJson(value: unknown): string {
  return terminalSafeJson(JSON.stringify(value) ?? 'null');
}

/** Bytes as text when they are UTF-8, else undefined. */
export function utf8OrUndefined(bytes: Buffer): string | undefined {
  return isUtf8(bytes) ? bytes.toString('utf8') : undefined;
}

/** A header value as text: UTF-8 as is, other bytes as `base64:…`; repeated headers joined by ", ". */
export function headerText(value: IHeaders[string]): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((item) => headerText(item)).join(', ');
  if (!Buffer.isBuffer(value)) return String(value);
  return utf8OrUndefined(value) ?? `base64:${value.toString('base64')}`;
}

export function headersText(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined) Object.defineProperty(out, name, { value: headerText(value), enumerable: true });
  }
  return out;
}

/** A classic hex dump: offset, 16 bytes in hex, the printable ASCII beside them. */
export function hexDump(bytes: Buffer, maxBytes = 4096): string {
  const lines: string[] = [];
  const shown = bytes.subarray(0, maxBytes);
  for (let at = 0; at < shown.length; at += 16) {
    const row = shown.subarray(at, at + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  |${printable(row)}|`);
  }
  if (bytes.length > maxBytes) lines.push(`… ${bytes.length - maxBytes} more bytes`);
  return lines.join('\n');
}

/** Printable ASCII as is, every other byte as '.'. */
export function printable(bytes: Buffer): string {
  return [...bytes].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
}

/** A consumed record as `tail --json` prints it and as the text form is built from. */
export interface ShownRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: string | null;
  /** Set instead of a text key when the key is not UTF-8. */
  keyBase64?: string;
  headers: Record<string, string>;
  format: ShownValue['format'];
  schemaId?: number;
  /** avro/json: the decoded value; text: the string. */
  value?: unknown;
  /** binary: the bytes. */
  valueBase64?: string;
  note?: string;
  bytes: number;
}

export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

export function showRecord(record: RawRecord, shown: ShownValue): ShownRecord {
  const keyText = record.key === null ? null : utf8OrUndefined(record.key);
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: new Date(Number(record.timestamp)).toISOString(),
    key: keyText ?? null,
    ...(record.key !== null && keyText === undefined ? { keyBase64: record.key.toString('base64') } : {}),
    headers: headersText(record.headers),
    format: shown.format,
    ...(shown.schemaId === undefined ? {} : { schemaId: shown.schemaId }),
    ...(shown.value === undefined ? {} : { value: shown.value }),
    ...(shown.format === 'binary' && record.value ? { valueBase64: record.value.toString('base64') } : {}),
    ...(shown.note === undefined ? {} : { note: shown.note }),
    bytes: shown.bytes,
  };
}

/** Bytes of a binary value shown inline: enough to recognise it on one line. */
const INLINE_BYTES = 48;

/** A record for people: a heading line, its headers, its value on one line. */
export function formatRecord(record: ShownRecord): string {
  const key =
    record.keyBase64 !== undefined
      ? `key base64:${record.keyBase64}`
      : record.key === null
        ? 'key null'
        : `key ${escapeControls(record.key)}`;
  const format = record.schemaId === undefined ? record.format : `avro (schema ${record.schemaId})`;
  const lines = [
    `${escapeControls(record.topic)} ${record.partition}:${record.offset}  ${record.timestamp}  ${key}  ${format}, ${record.bytes} bytes`,
  ];
  const headers = Object.entries(record.headers);
  if (headers.length > 0) {
    lines.push(
      `  headers  ${headers.map(([name, value]) => `${escapeControls(name)}=${escapeControls(value)}`).join('  ')}`,
    );
  }
  if (record.note !== undefined) lines.push(`  note     ${escapeControls(record.note)}`);
  lines.push(`  ${formatValue(record)}`);
  return lines.join('\n');
}

function formatValue(record: ShownRecord): string {
  switch (record.format) {
    case 'null':
      return '(null value)';
    case 'empty':
      return '(empty value)';
    case 'text':
      return safeJson(record.value);
    case 'binary': {
      const bytes = Buffer.from(record.valueBase64 ?? '', 'base64');
      const head = bytes.subarray(0, INLINE_BYTES);
      const more = bytes.length > INLINE_BYTES ? ` … (+${bytes.length - INLINE_BYTES} bytes)` : '';
      return `hex ${head.toString('hex')}${more}  |${printable(head)}|`;
    }
    default:
      return safeJson(record.value);
  }
}
