import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { InboundRecord } from '@patternflow/kafka';
import { Registry } from 'prom-client';
import { createFeedbackCounter, createFeedbackHandler, parseFeedback, qualityOf } from './feedback.ts';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const record = (value: Buffer | null, offset = 0): InboundRecord => ({
  topic: 'patterns.feedback',
  partition: 0,
  offset: String(offset),
  timestamp: 0,
  key: null,
  value,
  headers: {},
});
const refusal = (value: Buffer | null): string => {
  try {
    parseFeedback(value);
  } catch (error) {
    assert.ok(error instanceof PipelineError);
    assert.equal(error.code, ErrorCodes.FEEDBACK_INVALID);
    return error.message;
  }
  assert.fail('accepted');
};

describe('parseFeedback', () => {
  test('accepts {id, label} with optional source and at (ISO or millis)', () => {
    assert.deepEqual(parseFeedback(json({ id: 'a', label: 'fraud' })), {
      id: 'a',
      label: 'fraud',
      source: null,
      at: null,
    });
    assert.deepEqual(
      parseFeedback(json({ id: 'a', label: 'fraud', source: 'payments', at: '2026-01-02T03:04:05Z' })),
      {
        id: 'a',
        label: 'fraud',
        source: 'payments',
        at: Date.UTC(2026, 0, 2, 3, 4, 5),
      },
    );
    assert.equal(parseFeedback(json({ id: 'a', label: 'x', at: 1_767_000_000_000 })).at, 1_767_000_000_000);
  });
  test('refuses, naming why: empty, not JSON, not an object, unknown fields, bad types, bad times', () => {
    assert.match(refusal(null), /is empty/);
    assert.match(refusal(Buffer.from('{"id":')), /not JSON/);
    assert.match(refusal(json([1])), /JSON object/);
    assert.match(refusal(json({ id: 'a', label: 'b', truth: 1 })), /unknown fields: truth/);
    assert.match(refusal(json({ label: 'b' })), /"id"/);
    assert.match(refusal(json({ id: 'a', label: '' })), /"label"/);
    assert.match(refusal(json({ id: 'a', label: 'a b' })), /"label"/);
    assert.match(refusal(json({ id: 'a', label: 'b', source: 7 })), /"source"/);
    assert.match(refusal(json({ id: 'a', label: 'b', at: 'yesterday' })), /"at"/);
    assert.match(refusal(json({ id: 'a', label: 'b', at: 5 })), /"at"/);
    assert.match(refusal(Buffer.alloc(5000, 32)), /more than 4096/);
  });
});

describe('feedback handler', () => {
  test('upserts the valid feedback of a chunk in one statement (last per id wins), dead-letters the rest', async () => {
    const queries: unknown[][] = [];
    const pool = { query: async (_sql: string, values: unknown[]) => queries.push(values) } as never;
    const registry = new Registry();
    const handler = createFeedbackHandler({ pool, received: createFeedbackCounter(registry) });
    const result = await handler([
      record(json({ id: 'a', label: 'legit' }), 0),
      record(Buffer.from('nope'), 1),
      record(json({ id: 'a', label: 'fraud' }), 2),
      record(json({ id: 'b', label: 'legit' }), 3),
    ]);
    assert.equal(queries.length, 1);
    assert.deepEqual(JSON.parse(queries[0]![0] as string), [
      { id: 'a', label: 'fraud', source: null, at: null },
      { id: 'b', label: 'legit', source: null, at: null },
    ]);
    assert.deepEqual(
      result.deadLetters.map((d) => [d.record.offset, d.error.code]),
      [['1', 'PF_FEEDBACK_INVALID']],
    );
    const text = await registry.metrics();
    assert.match(text, /pf_feedback_received_total\{result="stored"\} 3/);
    assert.match(text, /pf_feedback_received_total\{result="invalid"\} 1/);
  });
});

describe('qualityOf', () => {
  test('precision, recall and F1 from the confusion counts; undefined without support', () => {
    const q = qualityOf({ model: 'm', version: '1', class: 'fraud', tp: 6, fp: 2, fn: 4 });
    assert.equal(q.precision, 0.75);
    assert.equal(q.recall, 0.6);
    assert.ok(Math.abs(q.f1! - (2 * 0.75 * 0.6) / 1.35) < 1e-12);
    const never = qualityOf({ model: 'm', version: '1', class: 'x', tp: 0, fp: 0, fn: 3 });
    assert.equal(never.precision, undefined);
    assert.equal(never.recall, 0);
    assert.equal(never.f1, undefined);
  });
});
