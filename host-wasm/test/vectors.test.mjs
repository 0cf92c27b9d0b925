// The shared conformance vectors, exactly.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DecodeError, Decoder, encode, frameOf, list, map, pairs } from '../dist/node.js';
import { frame, hex, vectors } from './helpers.mjs';

function firstValues(ps) {
  const out = {};
  for (const [k, v] of ps) if (!Object.hasOwn(out, k)) out[k] = v;
  return out;
}

test('frames.jsonl: type, body and pairs, or the error class', () => {
  const cases = vectors('frames.jsonl');
  assert.ok(cases.length >= 20);
  for (const c of cases) {
    const bytes = hex(c.hex);
    const d = new Decoder();
    if (c.error === 'incomplete') {
      assert.deepEqual(d.feed(bytes), [], c.name);
      assert.equal(d.buffered, bytes.length, c.name);
    } else if (c.error) {
      assert.throws(() => d.feed(bytes), (e) => e instanceof DecodeError && e.kind === c.error && e.offset === 0, c.name);
    } else {
      const ms = d.feed(bytes);
      assert.equal(ms.length, 1, c.name);
      const [m] = ms;
      const f = frameOf(m);
      assert.equal(f.direction, c.type, c.name);
      assert.equal(f.body, c.body, c.name);
      assert.equal(f.encryption, c.encryption ?? 0, c.name);
      assert.equal(f.reserved, c.reserved ?? 0, c.name);
      assert.equal(f.offset, 0, c.name);
      assert.deepEqual(pairs(m), c.pairs, c.name);
      assert.deepEqual({ ...m }, firstValues(c.pairs), c.name);
      assert.equal(d.buffered, 0, c.name);
    }
  }
});

test('real_bodies.jsonl: every body decodes to its pairs and type', () => {
  const cases = vectors('real_bodies.jsonl');
  assert.ok(cases.length >= 60);
  const d = new Decoder();
  for (const c of cases) {
    const [m] = d.feed(frame(c.body));
    assert.deepEqual(pairs(m), c.pairs, c.source);
    assert.equal(m.type, c.type, c.source);
    assert.deepEqual({ ...m }, firstValues(c.pairs), c.source);
    // Encoding the pairs again gives the same body.
    assert.deepEqual(frameOf(new Decoder().feed(encode(m, 'server'))[0]).body, c.body, c.source);
  }
});

test('real_streams.jsonl: complete frames in order, leftover bytes kept', () => {
  for (const c of vectors('real_streams.jsonl')) {
    const d = new Decoder();
    const ms = d.feed(hex(c.hex));
    assert.deepEqual(
      ms.map((m) => ({ type: frameOf(m).direction, body: frameOf(m).body })),
      c.complete_frames.map(({ type, body }) => ({ type, body })),
      c.what,
    );
    assert.equal(d.buffered, c.leftover_bytes, c.what);
  }
});

test('stt_nested.jsonl: nested lists and maps at any depth', () => {
  for (const c of vectors('stt_nested.jsonl')) {
    if (c.list) assert.deepEqual(list(c.value), c.list, c.name);
    if (c.items_as_maps) assert.deepEqual(list(c.value).map((item) => pairs(item)), c.items_as_maps, c.name);
    if (c.deep) {
      // One level more: the only item is a map whose only value is a list.
      const inner = map(list(c.value), 0);
      const [key] = Object.keys(inner);
      assert.deepEqual(list(inner, key), c.deep, c.name);
    }
    if (c.wire) {
      // The value as it stands in a body, and back.
      const [m] = new Decoder().feed(frame(`k@=${c.wire}/`));
      assert.equal(m.k, c.value, c.name);
      assert.equal(frameOf(new Decoder().feed(encode({ k: c.value }))[0]).body, `k@=${c.wire}/`, c.name);
    }
  }
});
