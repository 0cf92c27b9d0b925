// encode: objects, Maps, pairs and decoded messages; nesting; round trips.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Decoder, encode, frameOf, list, map, pairs } from '../dist/node.js';
import { hex, vectors } from './helpers.mjs';

const decodeOne = (bytes) => new Decoder().feed(bytes)[0];

test('the vectors encode byte for byte from their pairs', () => {
  for (const c of vectors('frames.jsonl').filter((c) => !c.error && !c.encryption && !c.reserved)) {
    // Only bodies an encoder would write: every pair ends with `/`.
    const again = encode(c.pairs, c.type);
    if (c.body.endsWith('/') || c.body === '') assert.deepEqual(again, hex(c.hex), c.name);
  }
});

test('objects, Maps, numbers and nesting at any depth', () => {
  const msg = {
    type: 'chatmsg',
    uid: 42,
    big: 12345678901234567890n,
    txt: 'a/b@c 🐟',
    el: [{ eid: 7, etp: 1 }, { eid: 8, etp: [1, '2/'] }],
    m: new Map([['k', { deep: ['x@', 'y/'] }]]),
  };
  const bytes = encode(msg, 'server');
  const m = decodeOne(bytes);
  assert.equal(frameOf(m).direction, 690);
  assert.equal(m.uid, '42');
  assert.equal(m.big, '12345678901234567890');
  assert.equal(m.txt, 'a/b@c 🐟');
  assert.deepEqual(map(list(m, 'el'), 0), { eid: '7', etp: '1' });
  assert.deepEqual(list(map(list(m, 'el'), 1), 'etp'), ['1', '2/']);
  assert.deepEqual(list(map(map(m, 'm'), 'k'), 'deep'), ['x@', 'y/']);
  assert.equal(frameOf(decodeOne(encode(msg))).direction, 689);
  assert.equal(frameOf(decodeOne(encode(msg, 1234))).direction, 1234);
});

test('duplicate keys: pairs keep them, the object the first value', () => {
  const bytes = encode([['type', 'x'], ['a', '1'], ['a', '2']]);
  const m = decodeOne(bytes);
  assert.deepEqual({ ...m }, { type: 'x', a: '1' });
  assert.deepEqual(pairs(m), [['type', 'x'], ['a', '1'], ['a', '2']]);
  // A decoded message encodes with all its pairs.
  assert.deepEqual(encode(m), bytes);
});

test('hostile keys stay data', () => {
  const m = decodeOne(encode([['__proto__', 'x'], ['constructor', 'y'], ['toString', 'z']]));
  assert.equal(Object.getPrototypeOf(m), Object.prototype);
  assert.deepEqual(Object.keys(m), ['__proto__', 'constructor', 'toString']);
  assert.equal(m.toString, 'z');
  assert.equal({}.polluted, undefined);
});
