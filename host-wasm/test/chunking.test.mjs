// Arbitrary chunking: any split of a stream gives the same messages as the
// whole, in order, with the same offsets.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { DecodeError, Decoder, frameOf } from '../dist/node.js';
import { concat, douyuBin, frame, hex, rng, vectors } from './helpers.mjs';

function corpus() {
  const parts = vectors('frames.jsonl')
    .filter((c) => !c.error)
    .map((c) => hex(c.hex));
  for (const c of vectors('real_bodies.jsonl')) parts.push(frame(c.body));
  return concat(...parts, ...parts);
}

const summary = (ms) => ms.map((m) => [frameOf(m).offset, frameOf(m).body, { ...m }]);

function feedInChunks(bytes, sizes, maxFrame) {
  const d = new Decoder({ maxFrame });
  const out = [];
  for (let i = 0; i < bytes.length; ) {
    const n = sizes();
    out.push(...d.feed(bytes.subarray(i, i + n)));
    i += n;
  }
  assert.equal(d.buffered, 0);
  return out;
}

test('byte by byte, and random chunks, equal the whole', () => {
  const bytes = corpus();
  const whole = summary(new Decoder().feed(bytes));
  assert.ok(whole.length > 100);
  assert.deepEqual(summary(feedInChunks(bytes, () => 1)), whole);
  for (let seed = 1; seed <= 20; seed++) {
    const next = rng(seed);
    assert.deepEqual(summary(feedInChunks(bytes, () => 1 + next(seed * 50))), whole, `seed ${seed}`);
  }
});

test('a buffer just large enough for the largest frame', () => {
  const bytes = corpus();
  const whole = new Decoder().feed(bytes);
  const largest = Math.max(...whole.map((m) => new TextEncoder().encode(frameOf(m).body).length + 13));
  const next = rng(3);
  assert.deepEqual(summary(feedInChunks(bytes, () => 1 + next(4096), largest)), summary(whole));
});

test('errors land at the same offsets however the stream is cut', () => {
  const bad = frame('type@=x/nn@=a@Qb/');
  const bytes = concat(frame('a@=1/'), bad, frame('a@=2/'), bad, frame('a@=3/'));
  const run = (sizes) => {
    const d = new Decoder();
    const seen = [];
    for (let i = 0; i < bytes.length; ) {
      const n = sizes();
      let chunk = bytes.subarray(i, i + n);
      for (;;) {
        try {
          seen.push(...d.feed(chunk).map((m) => m.a));
          break;
        } catch (e) {
          assert.ok(e instanceof DecodeError);
          seen.push(...e.messages.map((m) => m.a), `${e.kind}@${e.offset}`);
          chunk = undefined;
        }
      }
      i += n;
    }
    return seen;
  };
  const whole = run(() => bytes.length);
  assert.deepEqual(whole, ['1', 'bad_escape@18', '2', 'bad_escape@66', '3']);
  for (let seed = 1; seed <= 10; seed++) {
    const next = rng(seed);
    assert.deepEqual(run(() => 1 + next(30)), whole, `seed ${seed}`);
  }
});

test('a corpus from douyu generate, in random chunks', { skip: !existsSync(douyuBin) && `no ${douyuBin}` }, () => {
  const file = join(mkdtempSync(join(tmpdir(), 'douyu-wasm-')), 'corpus.bin');
  execFileSync(douyuBin, ['generate', '--megabytes', '1', '--output', file], { timeout: 30_000 });
  const bytes = new Uint8Array(readFileSync(file));
  const whole = new Decoder().feed(bytes);
  assert.ok(whole.length > 1000);
  assert.ok(whole.some((m) => m.type === 'chatmsg'));
  const next = rng(11);
  const chunked = feedInChunks(bytes, () => 1 + next(2000));
  assert.equal(chunked.length, whole.length);
  assert.deepEqual(summary(chunked), summary(whole));
});
