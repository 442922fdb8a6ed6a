import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, createScrubber, type Logger } from './logger.ts';

function capture(secrets: readonly string[]): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ service: 't', level: 'debug', secrets, destination }) };
}

const PASSWORD = 'pl4nted"pass/word+9';
const TOKEN = Buffer.from(`pipeline:${PASSWORD}`).toString('base64');

test('a secret is scrubbed wherever it sits in a line: message, nested error cause, headers, escaped, URL-encoded', () => {
  const { lines, logger } = capture([PASSWORD, TOKEN]);
  const cause = Object.assign(new Error(`request failed with ${PASSWORD}`), {
    request: { headers: { Authorization: `Basic ${TOKEN}` }, config: { sasl: { password: PASSWORD } } },
  });
  logger.error({ err: new Error('outer', { cause }) }, `failed: ${PASSWORD}`);
  logger.info({ url: `https://x/?p=${encodeURIComponent(PASSWORD)}` }, 'encoded');
  logger.info({ nested: { deeper: { value: PASSWORD } } }, 'nested');
  const output = lines.join('');
  assert.equal(lines.length, 3);
  assert.ok(!output.includes(PASSWORD), output);
  assert.ok(!output.includes(JSON.stringify(PASSWORD).slice(1, -1)), output);
  assert.ok(!output.includes(encodeURIComponent(PASSWORD)), output);
  assert.ok(!output.includes(TOKEN), output);
  assert.match(output, /failed: \*\*\*/);
});

test('the password of any URL with credentials is scrubbed, the rest of the URL kept', () => {
  const scrub = createScrubber([]);
  assert.equal(
    scrub('{"msg":"connect postgres://patternflow:s3cr3t@127.0.0.1:15432/db failed"}'),
    '{"msg":"connect postgres://patternflow:***@127.0.0.1:15432/db failed"}',
  );
  assert.equal(scrub('plain https://host:8081/path stays'), 'plain https://host:8081/path stays');
});

test('password and authorization fields are redacted even when no secret was declared', () => {
  const { lines, logger } = capture([]);
  logger.info({ password: 'a1', sasl: { password: 'b2' }, headers: { authorization: 'Basic c3' } }, 'fields');
  const line = JSON.parse(lines[0]!);
  assert.equal(line.password, '***');
  assert.equal(line.sasl.password, '***');
  assert.equal(line.headers.authorization, '***');
});

test('the scrubber replaces every occurrence and leaves lines without secrets alone', () => {
  const scrub = createScrubber(['abc123secret', '']);
  assert.equal(scrub('{"a":"abc123secret","b":"xabc123secretx"}'), '{"a":"***","b":"x***x"}');
  assert.equal(scrub('nothing to scrub'), 'nothing to scrub');
});
