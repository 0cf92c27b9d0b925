// The sans-IO Client against frames made by hand: login, join, messages,
// heartbeats, dead link, server error, logout.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client, DecodeError, Decoder, encode, frameOf } from '../dist/node.js';
import { concat } from './helpers.mjs';

const sent = (c) => new Decoder().feed(c.dataToSend()).map((m) => frameOf(m).body);

function events(c) {
  const out = [];
  for (let e; (e = c.nextEvent()) !== null; ) out.push(e);
  return out;
}

test('login, join, messages in arbitrary pieces, logout', () => {
  const c = new Client(9999, { now: 0 });
  assert.deepEqual(sent(c), ['type@=loginreq/roomid@=9999/']);
  const input = concat(
    encode({ type: 'loginres', userid: '0' }, 'server'),
    encode({ type: 'chatmsg', nn: 'a/b', txt: '你好' }, 'server'),
    encode({ type: 'uenter', nn: 'x' }, 'server'),
  );
  const got = [];
  for (let i = 0; i < input.length; i += 5) {
    c.receiveData(input.subarray(i, i + 5), 10);
    got.push(...events(c));
  }
  assert.deepEqual(got.map((e) => e.kind), ['loggedIn', 'message', 'message']);
  assert.equal(got[1].message.nn, 'a/b');
  assert.equal(got[1].message.txt, '你好');
  assert.equal(frameOf(got[1].message).offset, null);
  assert.deepEqual(sent(c), ['type@=joingroup/rid@=9999/gid@=-9999/']);
  assert.deepEqual(events(c), [{ kind: 'joined', room: 9999 }]);
  c.queueChat('hi/@');
  assert.deepEqual(sent(c), ['type@=chatmsg/txt@=hi@S@A/']);
  // The longest line the queue takes (255 bytes), every byte escaped, goes
  // out whole: the 543-byte frame the core's TRANSMIT_MAX is sized for.
  const longest = '@/'.repeat(127) + '@';
  c.queueChat(longest);
  const data = c.dataToSend();
  assert.equal(data.length, 543);
  assert.deepEqual(new Decoder().feed(data).map((m) => m.txt), [longest]);
  c.close();
  assert.deepEqual(sent(c), ['type@=logout/']);
  assert.equal(c.isClosed, true);
  assert.deepEqual(events(c).map((e) => [e.kind, e.reason]), [['closed', 'logout']]);
  assert.equal(c.timeout(), null);
});

test('heartbeats on time, a silent server is dead', () => {
  const c = new Client(1, { now: 0, heartbeat: 1000 });
  c.dataToSend();
  assert.equal(c.timeout(), 1000);
  c.handleTimeout(1000);
  assert.deepEqual(sent(c), ['type@=mrkl/']);
  c.receiveData(encode({ type: 'mrkl' }, 'server'), 1500);
  assert.deepEqual(events(c).map((e) => e.kind), ['message']);
  c.handleTimeout(3600);
  const [dead, closed] = events(c);
  assert.equal(dead.kind, 'dead');
  assert.equal(dead.silentFor, 2100);
  assert.equal(closed.reason, 'silent');
  assert.equal(c.isClosed, true);
});

test('web login, username, server error, bad input, peer closed', () => {
  const c = new Client('288016', { now: 0, webUid: 1234, username: '鱼丸' });
  const [login] = sent(c);
  assert.match(login, /^type@=loginreq\/roomid@=288016\/dfl@=.*username@=鱼丸\/uid@=1234\//);
  c.receiveData(encode({ type: 'loginres' }, 'server'), 1);
  c.receiveData(encode({ type: 'chatmsg' }, 'client'), 2);
  assert.equal(c.nextEvent().kind, 'loggedIn');
  assert.throws(() => c.nextEvent(), (e) => e instanceof DecodeError && e.kind === 'unexpected_type' && e.found === 689);
  c.receiveData(encode({ type: 'error', code: 1001 }, 'server'), 3);
  const got = events(c);
  assert.deepEqual(got.map((e) => e.kind), ['serverError', 'closed']);
  assert.equal(got[0].code, 1001);
  assert.equal(got[1].reason, 'serverError');

  const d = new Client(5, { now: 0 });
  d.receiveData(new Uint8Array(0), 1);
  assert.deepEqual(events(d).map((e) => e.reason), ['disconnected']);
  assert.equal(d.isClosed, true);
});

test('more input than the receive buffer holds waits, and is all read', () => {
  const c = new Client(1, { now: 0, maxFrame: 64 });
  c.dataToSend();
  const many = concat(...Array.from({ length: 50 }, (_, i) => encode({ type: 'chatmsg', txt: `${i}` }, 'server')));
  c.receiveData(many, 1);
  const got = events(c);
  assert.equal(got.length, 50);
  assert.deepEqual(got.map((e) => e.message.txt), Array.from({ length: 50 }, (_, i) => `${i}`));
});
