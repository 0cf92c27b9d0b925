// The package in a real browser: Debian's Chromium, headless, loads
// dist/browser.js as an ES module from a loopback HTTP server started here,
// decodes the shared vectors (checked here against the vectors) and runs
// watch() with the browser's own WebSocket against `douyu serve --ws
// --simulate` on 127.0.0.1 (login, chat received, logout). The page
// (browser/page.mjs) POSTs what it got; no browser-driving library is
// needed. Every wait is bounded; every process started here is ended.
//
// CHROMIUM (default /usr/bin/chromium): skipped when it is not installed
// (test.sh installs it).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { douyuBin, vectors, vectorsDir } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ROOM = 9998;
const here = fileURLToPath(new URL('.', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const skip =
  (!executable(CHROMIUM) && `no Chromium at ${CHROMIUM} (test.sh installs it)`) ||
  (!existsSync(douyuBin) && `no ${douyuBin} (cargo build -p douyu-host)`);

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits (at most ms) until predicate(read()) is truthy; its value. */
async function waitFor(read, predicate, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = predicate(read());
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out (${ms} ms) waiting for ${what}; got:\n${String(read()).slice(-3000)}`);
    await sleep(25);
  }
}

const types = { '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.jsonl': 'text/plain; charset=utf-8' };

/** Serves the page, dist/ and the vectors; collects what the page POSTs. */
function startHttp(posted) {
  const roots = { '/dist/': dist, '/vectors/': vectorsDir, '/': join(here, 'browser') };
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        posted.push({ path: url.pathname, body });
        res.writeHead(204).end();
      });
      return;
    }
    const prefix = Object.keys(roots).find((p) => url.pathname.startsWith(p));
    const root = resolve(roots[prefix]);
    const file = resolve(root, decodeURIComponent(url.pathname.slice(prefix.length)));
    let data;
    try {
      if (!file.startsWith(root + sep)) throw new Error('outside');
      data = readFileSync(file);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(data);
  });
  server.listen(0, '127.0.0.1');
  return server;
}

let http;
let serve;
let serveLog = '';
let browser;
let browserLog = '';
let profile;
const posted = [];

before(async () => {
  if (skip) return;
  serve = spawn(douyuBin, ['serve', '--tcp', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--simulate', '50', '--room', `${ROOM}`], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const take = (chunk) => (serveLog = (serveLog + strip(chunk.toString())).slice(-200_000));
  serve.stdout.on('data', take);
  serve.stderr.on('data', take);
  http = startHttp(posted);
  await Promise.race([once(http, 'listening'), sleep(5_000).then(() => Promise.reject(new Error('http: not listening')))]);
});

after(async () => {
  if (browser && browser.exitCode === null && browser.signalCode === null) {
    // Its own process group (detached): the wrapper script and every
    // Chromium process it started.
    const kill = (signal) => {
      try {
        process.kill(-browser.pid, signal);
      } catch {
        // Already gone.
      }
    };
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 5_000);
    await once(browser, 'exit');
    clearTimeout(timer);
  }
  serve?.kill();
  http?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('headless Chromium: the vectors and watch() over its own WebSocket', { skip, timeout: 90_000 }, async (t) => {
  const ws = await waitFor(() => serveLog, (s) => /serving WebSocket.*?addr=(127\.0\.0\.1:\d+)/.exec(s)?.[1], 15_000, 'douyu serve');
  const page = `http://127.0.0.1:${http.address().port}/page.html?room=${ROOM}&ws=${encodeURIComponent(`ws://${ws}`)}`;
  profile = mkdtempSync(join(tmpdir(), 'douyu-wasm-chromium-'));
  browser = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--no-default-browser-check',
      // Without these Chromium's own connections are refused on a closed
      // network and it stalls on them (host-linux/overlay-tests).
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--enable-logging=stderr',
      `--user-data-dir=${profile}`,
      page,
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  browser.stderr.on('data', (c) => (browserLog = (browserLog + c.toString()).slice(-20_000)));

  const report = await waitFor(
    () => posted,
    (p) => p.find((x) => x.path === '/result' || x.path === '/error'),
    60_000,
    `the page to report (Chromium's log:\n${browserLog.slice(-3000)})`,
  ).catch((e) => {
    throw new Error(`${e.message}\nChromium's log:\n${browserLog.slice(-3000)}`);
  });
  assert.equal(report.path, '/result', `the page failed: ${report.body}\nChromium's log:\n${browserLog.slice(-3000)}`);
  const result = JSON.parse(report.body);
  t.diagnostic(`${result.userAgent}; chat received: ${JSON.stringify(result.watch.chats.map((c) => c.txt))}`);
  assert.match(result.userAgent, /HeadlessChrome|Chrome/);
  assert.equal(result.nativeWebSocket, true);
  const v = result.vectors;

  // frames.jsonl: type, body, pairs, first values, or the error class.
  const frames = vectors('frames.jsonl');
  assert.equal(v.frames.length, frames.length);
  frames.forEach((c, i) => {
    const got = v.frames[i];
    assert.equal(got.name, c.name);
    if (c.error === 'incomplete') {
      assert.deepEqual(got.value, [], c.name);
      assert.equal(got.buffered, c.hex.length / 2, c.name);
    } else if (c.error) {
      assert.deepEqual(got.error, { decodeError: true, kind: c.error, offset: 0 }, c.name);
    } else {
      assert.equal(got.value.length, 1, c.name);
      const [m] = got.value;
      assert.equal(m.direction, c.type, c.name);
      assert.equal(m.body, c.body, c.name);
      assert.equal(m.encryption, c.encryption ?? 0, c.name);
      assert.equal(m.reserved, c.reserved ?? 0, c.name);
      assert.equal(m.offset, 0, c.name);
      assert.deepEqual(m.pairs, c.pairs, c.name);
      assert.deepEqual(m.first, firstValues(c.pairs), c.name);
    }
  });

  const bodies = vectors('real_bodies.jsonl');
  assert.equal(v.realBodies.length, bodies.length);
  bodies.forEach((c, i) => {
    const got = v.realBodies[i];
    assert.deepEqual(got.pairs, c.pairs, c.source);
    assert.equal(got.type, c.type, c.source);
    assert.deepEqual(got.first, firstValues(c.pairs), c.source);
    assert.equal(got.again, c.body, c.source);
  });

  const streams = vectors('real_streams.jsonl');
  assert.equal(v.realStreams.length, streams.length);
  streams.forEach((c, i) => {
    const got = v.realStreams[i];
    assert.deepEqual(got.messages, c.complete_frames.map(({ type, body }) => ({ type, body })), c.what);
    assert.equal(got.buffered, c.leftover_bytes, c.what);
  });

  const nested = vectors('stt_nested.jsonl');
  assert.equal(v.nested.length, nested.length);
  nested.forEach((c, i) => {
    const got = v.nested[i];
    if (c.list) assert.deepEqual(got.list, c.list, c.name);
    if (c.items_as_maps) assert.deepEqual(got.itemsAsMaps, c.items_as_maps, c.name);
    if (c.deep) assert.deepEqual(got.deep, c.deep, c.name);
    if (c.wire) {
      assert.equal(got.decoded, c.value, c.name);
      assert.equal(got.encoded, `k@=${c.wire}/`, c.name);
    }
  });
  assert.deepEqual(v.errorClass, { decodeError: true, douyuError: true, kind: 'too_short', offset: 0 });

  // watch(): logged in, joined, three chat lines of the room; the break
  // logged out, which the server logs.
  const w = result.watch;
  assert.equal(w.aborted, false, 'watch ran into its 20 s abort');
  assert.deepEqual(w.events.slice(0, 2), [{ kind: 'loggedIn', type: 'loginres' }, { kind: 'joined' }]);
  assert.equal(w.chats.length, 3);
  for (const chat of w.chats) {
    assert.equal(chat.rid, `${ROOM}`);
    assert.equal(typeof chat.txt, 'string');
    assert.equal(chat.direction, 690);
  }
  await waitFor(() => serveLog, (s) => /session closed.*wasm_browser.*logged out|wasm_browser.*session closed.*logged out/.test(s), 10_000, 'the logout');
});

/** The first value of each key, as [key, value] in order. */
function firstValues(pairs) {
  const seen = new Set();
  return pairs.filter(([k]) => !seen.has(k) && seen.add(k));
}
