import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeControls, terminalSafeJson } from './terminal.ts';

test('indented JSON keeps its layout, and strings lose what a terminal acts on', () => {
  const value = { text: '\u001b[2J\u009b31m\u202eevil\u2028', ok: 'é ✓' };
  const json = terminalSafeJson(JSON.stringify(value, null, 2));
  assert.deepEqual(JSON.parse(json), value);
  assert.equal(json.split('\n').length, 4, 'the newlines of the layout stay');
  assert.equal(escapeControls(json).includes('\\u009b'), true);
  assert.ok(!json.includes('\u009b') && !json.includes('\u202e') && !json.includes('\u2028'));
});
