// Every error class, with the core's offsets and values; nothing a peer
// sends throws anything but a DecodeError.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client, DecodeError, Decoder, EncodeError, SessionError, encode, frameOf, list, map } from '../dist/node.js';
import { concat, frame, rng } from './helpers.mjs';

const good = frame('type@=mrkl/'); // 24 bytes
const bodyOf = (m) => frameOf(m).body;

function withHeader(first, second, rest = new Uint8Array(0)) {
  const out = new Uint8Array(12 + rest.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, first, true);
  v.setUint32(4, second, true);
  v.setUint16(8, 690, true);
  out.set(rest, 12);
  return out;
}

/** Feeds `bytes`; returns the error, with the messages before it. */
function failure(d, bytes) {
  try {
    d.feed(bytes);
  } catch (e) {
    assert.ok(e instanceof DecodeError, `${e}`);
    return e;
  }
  assert.fail('no error');
}

test('recoverable frame errors: offset, values, messages before, stream goes on', () => {
  const cases = [
    ['missing_terminator', Uint8Array.from([...frame('a@=b/').slice(0, -1), 0x58]), { found: 0x58 }],
    ['nul_in_body', frame('a@=\0b/'), { bodyOffset: 3 }],
    ['invalid_utf8', frame(Uint8Array.from([0x61, 0x40, 0x3d, 0xff, 0x2f])), { validUpTo: 3 }],
    ['bad_escape', frame('type@=x/nn@=a@Qb/'), { bodyOffset: 13 }],
    ['missing_separator', frame('type@=x/garbage/'), { bodyOffset: 8 }],
  ];
  for (const [kind, bad, values] of cases) {
    const d = new Decoder();
    const e = failure(d, concat(good, good, bad, good));
    assert.equal(e.kind, kind);
    assert.equal(e.offset, 48, kind);
    assert.equal(e.fatal, false, kind);
    assert.match(e.message, /offset 48/, kind);
    for (const [k, v] of Object.entries(values)) assert.equal(e[k], v, `${kind}.${k}`);
    assert.equal(e.messages.length, 2, kind);
    // The frame after it waits for the next call.
    const after = d.feed();
    assert.equal(after.length, 1, kind);
    assert.equal(frameOf(after[0]).offset, 48 + bad.length, kind);
  }
});

test('too_large: reported with length and capacity, skipped as it arrives', () => {
  const d = new Decoder({ maxFrame: 64 });
  const big = frame(`txt@=${'x'.repeat(100)}/`);
  const bytes = concat(good, big, good);
  const e = failure(d, bytes.subarray(0, 40));
  assert.equal(e.kind, 'too_large');
  assert.equal(e.length, big.length - 4);
  assert.equal(e.capacity, 64);
  assert.equal(e.offset, 24);
  assert.equal(e.messages.length, 1);
  // The rest of the big frame arrives in pieces and is dropped.
  assert.deepEqual(d.feed(bytes.subarray(40, 100)), []);
  const tail = d.feed(bytes.subarray(100));
  assert.deepEqual(tail.map(bodyOf), ['type@=mrkl/']);
  assert.equal(frameOf(tail[0]).offset, 24 + big.length);
});

test('length_mismatch and too_short are fatal and repeat', () => {
  for (const [kind, bad, values] of [
    ['length_mismatch', withHeader(20, 99), { first: 20, second: 99 }],
    ['too_short', withHeader(8, 8), { length: 8 }],
  ]) {
    const d = new Decoder();
    const e = failure(d, concat(good, bad, good));
    assert.equal(e.kind, kind);
    assert.equal(e.fatal, true);
    assert.equal(e.offset, 24);
    for (const [k, v] of Object.entries(values)) assert.equal(e[k], v, `${kind}.${k}`);
    const again = failure(d, good);
    assert.equal(again.kind, kind);
    assert.equal(again.offset, 24);
  }
});

test('nested text: bad_escape and missing_separator with their offsets', () => {
  assert.throws(() => list('a@Qb/'), (e) => e instanceof DecodeError && e.kind === 'bad_escape' && e.bodyOffset === 1);
  assert.throws(() => map('a@=1/junk/'), (e) => e instanceof DecodeError && e.kind === 'missing_separator' && e.bodyOffset === 5);
});

test('encode: NUL is an EncodeError with its offset; shapes are TypeErrors', () => {
  assert.throws(() => encode({ txt: 'a\0b' }), (e) => e instanceof EncodeError && e.kind === 'nul_byte' && e.bodyOffset === 1);
  assert.throws(() => encode({ a: true }), TypeError);
  assert.throws(() => encode({ a: null }), TypeError);
  assert.throws(() => encode('type@=x/'), TypeError);
  assert.throws(() => encode([['a']]), TypeError);
  assert.throws(() => encode({ a: 1 }, 'sideways'), RangeError);
  const deep = [];
  let at = deep;
  for (let i = 0; i < 100; i++) at = at[0] = [];
  assert.throws(() => encode({ deep }), TypeError);
  const cycle = {};
  cycle.self = cycle;
  assert.throws(() => encode(cycle), TypeError);
});

test('options and session calls: RangeError and SessionError', () => {
  assert.throws(() => new Decoder({ maxFrame: 11 }), RangeError);
  assert.throws(() => new Decoder({ maxFrame: 2 ** 31 }), RangeError);
  assert.throws(() => new Client(-1), RangeError);
  assert.throws(() => new Client(1.5), RangeError);
  const c = new Client(9999, { now: 0 });
  assert.throws(() => c.requestWho(), (e) => e instanceof SessionError && e.kind === 'not_ready');
  assert.throws(() => c.queueChat('x'.repeat(300)), (e) => e instanceof SessionError && e.kind === 'buffer_full' && e.capacity === 256);
  assert.throws(() => c.queueChat('a\0'), (e) => e instanceof DecodeError || e instanceof SessionError);
  assert.throws(() => new Client(1, { username: 'x'.repeat(100) }), SessionError);
  c.close();
  c.dataToSend();
  assert.throws(() => c.queueChat('late'), (e) => e instanceof SessionError && e.kind === 'not_ready');
});

test('arbitrary bytes: only DecodeErrors, never a trap, memory bounded', () => {
  const next = rng(7);
  const seeds = [frame('type@=chatmsg/txt@=hi@S/el@=a@AA=1@AS@S/'), good, withHeader(30, 30)];
  for (let round = 0; round < 3000; round++) {
    const d = new Decoder({ maxFrame: 12 + next(200) });
    let bytes;
    if (round % 2 === 0) {
      bytes = Uint8Array.from({ length: next(300) }, () => next(256));
    } else {
      bytes = concat(...seeds.map((s) => s.slice()));
      for (let k = 0; k < 1 + next(4); k++) bytes[next(bytes.length)] = next(256);
    }
    for (let i = 0; i < bytes.length; ) {
      const n = 1 + next(64);
      try {
        d.feed(bytes.subarray(i, i + n));
      } catch (e) {
        assert.ok(e instanceof DecodeError, `${e}`);
      }
      i += n;
    }
    // Drain what waits behind errors.
    for (let k = 0; k < 50; k++) {
      try {
        d.feed();
        break;
      } catch (e) {
        assert.ok(e instanceof DecodeError, `${e}`);
      }
    }
    assert.ok(d.buffered <= d.maxFrame + bytes.length);
    d.free();
  }
  // The module still works.
  assert.equal(new Decoder().feed(good).length, 1);
});
