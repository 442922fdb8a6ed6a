import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_JSON_LIMITS, findJsonLimitViolation, type JsonLimits } from './json-limits.ts';

const limits: JsonLimits = { maxDepth: 4, maxWidth: 3, maxStringLength: 8, maxNumberLength: 6 };
const kindOf = (text: string, l = limits) => findJsonLimitViolation(text, l)?.kind;

describe('findJsonLimitViolation', () => {
  test('ordinary values within the limits pass', () => {
    for (const text of [
      '{}',
      '[]',
      '{"a":1,"b":[1,2,3],"c":{"d":"short"}}',
      '[[[1]]]',
      ' { "a" : [ true , false , null ] } ',
      '"x"',
      '12345',
    ]) {
      assert.equal(findJsonLimitViolation(text, limits), undefined, text);
    }
  });

  test('depth: the fifth level is refused, whatever the brackets', () => {
    assert.equal(kindOf('[[[[1]]]]'), undefined);
    assert.equal(kindOf('[[[[[1]]]]]'), 'depth');
    assert.equal(kindOf('{"a":{"b":{"c":{"d":{}}}}}'), 'depth');
    // The regression of the ingestor's crash loop: 100 000 levels, ~200 KB, stops at once.
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const violation = findJsonLimitViolation(deep);
    assert.equal(violation?.kind, 'depth');
    assert.equal(violation?.position, DEFAULT_JSON_LIMITS.maxDepth);
    assert.match(violation!.message, /nests deeper than 32 levels/);
  });

  test('width: keys of an object and items of an array are counted per container', () => {
    assert.equal(kindOf('[1,2,3]'), undefined);
    assert.equal(kindOf('[1,2,3,4]'), 'width');
    assert.equal(kindOf('{"a":1,"b":2,"c":3}'), undefined);
    assert.equal(kindOf('{"a":1,"b":2,"c":3,"d":4}'), 'width');
    assert.equal(
      kindOf('[[1,2,3],[1,2,3],[1,2,3]]'),
      undefined,
      'nested containers count once in their parent',
    );
    assert.equal(kindOf('[{},[],"x",1]'), 'width');
    assert.match(findJsonLimitViolation('[1,2,3,4]', limits)!.message, /an array with more than 3 items/);
  });

  test('length: long strings (keys too) and long number literals', () => {
    assert.equal(kindOf('"12345678"'), undefined);
    assert.equal(kindOf('"123456789"'), 'length');
    assert.equal(kindOf('{"123456789":1}'), 'length');
    assert.equal(kindOf('"ab\\"cdefgh"'), 'length', 'escapes count as written');
    assert.equal(kindOf('123456'), undefined);
    assert.equal(kindOf('1234567'), 'length');
    assert.equal(kindOf(`[${'9'.repeat(400)}]`, DEFAULT_JSON_LIMITS), 'length');
  });

  test('forbidden keys, also when written with escapes, but not as values', () => {
    assert.equal(kindOf('{"__proto__":{}}', DEFAULT_JSON_LIMITS), 'forbidden-key');
    assert.equal(kindOf('{"a":{"constructor":1}}', DEFAULT_JSON_LIMITS), 'forbidden-key');
    assert.equal(kindOf('{"\\u005f_proto__":1}', DEFAULT_JSON_LIMITS), 'forbidden-key');
    assert.equal(kindOf('{"prototype" :1}', DEFAULT_JSON_LIMITS), 'forbidden-key');
    assert.equal(kindOf('{"a":"__proto__"}', DEFAULT_JSON_LIMITS), undefined);
    assert.equal(kindOf('["__proto__"]', DEFAULT_JSON_LIMITS), undefined);
  });

  test('never throws, whatever the text', () => {
    const samples = [
      '',
      '"',
      '"\\',
      '{"a',
      '{"a":',
      ']]]]',
      '}}{{',
      '\\u',
      '"\\u12',
      '{"\\uZZZZ":1}',
      '\u0000\uD800',
    ];
    for (const text of samples) assert.doesNotThrow(() => findJsonLimitViolation(text, limits), text);
    let seed = 42;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let n = 0; n < 2000; n++) {
      let text = '';
      for (let k = 0; k < 40; k++) text += '{}[]",:\\ a1e-'.charAt(Math.floor(next() * 14));
      assert.doesNotThrow(() => findJsonLimitViolation(text, limits), text);
    }
  });
});
