// watch() over WebSocket: against `douyu serve --ws` on loopback (login,
// chat received, logout), and against a scripted server (reconnect).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { WebSocketServer, WebSocket as WsWebSocket } from 'ws';

import { Decoder, encode, frameOf, watch } from '../dist/node.js';
import { douyuBin } from './helpers.mjs';

// Node >= 22 has a WebSocket; Node 20 (CI) uses npm ws, as a user would.
const WebSocket = globalThis.WebSocket ?? WsWebSocket;
const ROOM = 9999;

/** Resolves when `predicate` holds for the text so far, rejects after `ms`. */
function waitFor(read, predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const m = predicate(read());
      if (m) {
        clearInterval(poll);
        resolve(m);
      } else if (Date.now() - started > ms) {
        clearInterval(poll);
        reject(new Error(`timed out waiting for ${what}; got:\n${read().slice(-2000)}`));
      }
    }, 20);
  });
}

const skip = !existsSync(douyuBin) && `no ${douyuBin} (cargo build -p douyu-host)`;
let server;
let log = '';
let url;

before(async () => {
  if (skip) return;
  // Port 0: the server picks free ports and logs them.
  server = spawn(douyuBin, ['serve', '--tcp', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--simulate', '50', '--room', `${ROOM}`], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const take = (chunk) => (log += chunk.toString().replace(/\x1b\[[0-9;]*m/g, ''));
  server.stdout.on('data', take);
  server.stderr.on('data', take);
  const m = await waitFor(() => log, (s) => /serving WebSocket.*?addr=(127\.0\.0\.1:\d+)/.exec(s), 15_000, 'the server');
  url = `ws://${m[1]}`;
});

after(() => server?.kill());

test('watch douyu serve --ws: login, chat received, logout', { skip, timeout: 30_000 }, async () => {
  const events = [];
  const chats = [];
  for await (const message of watch(ROOM, url, { WebSocket, username: 'wasm_watch', onEvent: (e) => events.push(e) })) {
    if (message.type === 'chatmsg') chats.push(message);
    if (chats.length >= 3) break;
  }
  assert.deepEqual(events.slice(0, 2).map((e) => e.kind), ['loggedIn', 'joined']);
  assert.equal(events[0].message.type, 'loginres');
  for (const chat of chats) {
    assert.equal(chat.rid, `${ROOM}`);
    assert.equal(typeof chat.txt, 'string');
    assert.equal(frameOf(chat).direction, 690);
  }
  // The break logged out: the server says so.
  await waitFor(() => log, (s) => /session closed.*wasm_watch.*logged out|wasm_watch.*session closed.*logged out/.test(s), 10_000, 'the logout');
});

// Node >= 22 only: watch() with no WebSocket option takes the runtime's own
// (test.sh runs this file with Node 22 too, when it can get it).
const builtIn = typeof globalThis.WebSocket === 'function';
test('watch with the runtime\'s own WebSocket (Node >= 22)', { skip: skip || (!builtIn && `Node ${process.version} has no WebSocket`), timeout: 30_000 }, async () => {
  const events = [];
  let chat;
  for await (const message of watch(ROOM, url, { username: 'wasm_builtin', onEvent: (e) => events.push(e.kind) })) {
    if (message.type === 'chatmsg') {
      chat = message;
      break;
    }
  }
  assert.deepEqual(events.slice(0, 2), ['loggedIn', 'joined']);
  assert.equal(chat.rid, `${ROOM}`);
  await waitFor(() => log, (s) => /session closed.*wasm_builtin.*logged out|wasm_builtin.*session closed.*logged out/.test(s), 10_000, 'the logout');
});

test('watch reconnects with backoff after the server drops it', { timeout: 30_000 }, async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  let connections = 0;
  const received = [];
  wss.on('connection', (socket) => {
    const n = ++connections;
    const decoder = new Decoder();
    socket.on('message', (data) => {
      for (const m of decoder.feed(new Uint8Array(data))) {
        received.push(`${n}:${m.type}`);
        if (m.type === 'loginreq') {
          socket.send(encode({ type: 'loginres', userid: '1' }, 'server'));
          if (n === 1) socket.terminate();
        }
        if (m.type === 'joingroup') socket.send(encode({ type: 'chatmsg', rid: `${ROOM}`, txt: `from ${n}` }, 'server'));
      }
    });
  });
  const events = [];
  const started = performance.now();
  let text;
  const port = wss.address().port;
  for await (const message of watch(ROOM, `ws://127.0.0.1:${port}`, { WebSocket, backoff: 200, onEvent: (e) => events.push(e) })) {
    text = message.txt;
    break;
  }
  const elapsed = performance.now() - started;
  assert.equal(text, 'from 2');
  assert.equal(connections, 2);
  assert.ok(elapsed >= 200, `reconnected after ${elapsed} ms`);
  assert.ok(events.some((e) => e.kind === 'closed' && e.reason === 'disconnected'));
  await waitFor(() => received.join(' '), (s) => s.includes('2:logout'), 5_000, 'the logout');
  assert.deepEqual(received, ['1:loginreq', '2:loginreq', '2:joingroup', '2:logout']);
  for (const socket of wss.clients) socket.terminate();
  await new Promise((resolve) => wss.close(resolve));
});
