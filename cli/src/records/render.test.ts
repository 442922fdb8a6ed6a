import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeControls, formatRecord, headersText, hexDump, safeJson, showRecord } from './render.ts';

/** What a terminal acts on: ESC, CSI (8-bit), BEL, bidi overrides, DEL, NUL. */
const HOSTILE = '\u001b[2J\u009b31m\u0007\u202eevil\u0000\u007f';

/** Characters of `text` a terminal would act on (line breaks between lines excepted). */
const unsafe = (text: string) =>
  [...text].filter((char) => {
    const code = char.codePointAt(0)!;
    return (
      (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f) || code === 0x202e || code === 0x2028
    );
  });

test('escapeControls leaves nothing a terminal acts on, and keeps ordinary text', () => {
  const escaped = escapeControls(`ok é ✓ ${HOSTILE}\n`);
  assert.equal(escaped, 'ok é ✓ \\u001b[2J\\u009b31m\\u0007\\u202eevil\\u0000\\u007f\\n');
  assert.equal(escapeControls('plain'), 'plain');
});

test('safeJson is still the same JSON, and safe', () => {
  const value = { text: HOSTILE, sep: '\u2028' };
  const line = safeJson(value);
  assert.deepEqual(JSON.parse(line), value);
  assert.deepEqual(unsafe(line), []);
});

test('headers: UTF-8 as text, other bytes as base64, repeated values joined', () => {
  assert.deepEqual(
    headersText({
      a: Buffer.from('x'),
      b: Buffer.from([0xff, 0x00]),
      c: [Buffer.from('1'), Buffer.from('2')],
      ['__proto__']: Buffer.from('p'),
    }),
    Object.fromEntries([
      ['a', 'x'],
      ['b', 'base64:/wA='],
      ['c', '1, 2'],
      ['__proto__', 'p'],
    ]),
  );
});

test('hexDump shows offsets, hex and printable bytes, and says what it cut', () => {
  const dump = hexDump(Buffer.from('{"id":"p-1"}\u0000\u001b more bytes'), 16);
  assert.equal(
    dump,
    '00000000  7b 22 69 64 22 3a 22 70 2d 31 22 7d 00 1b 20 6d  |{"id":"p-1"}.. m|\n… 9 more bytes',
  );
});

test('a record is shown on three lines: where and what, headers, the value; hostile bytes escaped', () => {
  const shown = showRecord(
    {
      topic: 'patterns.ingest.payments',
      partition: 1,
      offset: '42',
      timestamp: '1700000000000',
      key: Buffer.from(`k${HOSTILE}`),
      value: Buffer.from([0xde, 0xad, 0x1b]),
      headers: { 'pf-source': Buffer.from(HOSTILE) },
    },
    { format: 'binary', bytes: 3 },
  );
  assert.equal(shown.valueBase64, '3q0b');
  const text = formatRecord(shown);
  assert.equal(text.split('\n').length, 3);
  assert.match(text, /^patterns\.ingest\.payments 1:42 {2}2023-11-14T22:13:20\.000Z {2}key k\\u001b\[2J/);
  assert.match(text, /hex dead1b {2}\|\.\.\.\|$/);
  assert.deepEqual(unsafe(text), [], 'nothing unsafe reaches the terminal');
});

test('a key that is not UTF-8 is given in base64', () => {
  const shown = showRecord(
    { topic: 't', partition: 0, offset: '0', timestamp: '0', key: Buffer.from([0xff]), value: null },
    { format: 'null', bytes: 0 },
  );
  assert.equal(shown.key, null);
  assert.equal(shown.keyBase64, '/w==');
  assert.match(formatRecord(shown), /key base64:\/w==/);
});
