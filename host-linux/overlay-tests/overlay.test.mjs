// The overlay page in a real browser: Debian's Chromium, headless, driven
// through playwright-core, against `douyu serve --simulate` and `douyu
// overlay` on 127.0.0.1. Every wait is bounded; every process is ended.
//
// DOUYU (default: ../../target/debug/douyu) is the binary under test;
// OVERLAY_SCREENSHOT (default: ../../target/overlay-screenshot.png) is where
// the screenshot for review goes; CHROMIUM (default: /usr/bin/chromium).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const DOUYU = process.env.DOUYU ?? path.join(repo, 'target/debug/douyu');
const SCREENSHOT = process.env.OVERLAY_SCREENSHOT ?? path.join(repo, 'target/overlay-screenshot.png');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const XSS = '<img src=x onerror=alert(1)>';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A running `douyu` process, its stderr kept for waits and for failures. */
class Douyu {
  constructor(args) {
    this.args = args;
    this.log = '';
    this.child = spawn(DOUYU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk) => {
      // Keep the tail only: a long run must not grow the test's memory.
      this.log = (this.log + chunk).slice(-200_000);
    });
    this.exited = once(this.child, 'exit');
  }

  /** Waits (at most ms) for a log line matching re; the match. */
  async waitLog(re, ms = 10_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.log.match(re);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`douyu ${this.args.join(' ')}: no ${re} in ${ms} ms; log:\n${this.log.slice(-4000)}`);
      }
      await sleep(50);
    }
  }

  /** The address it logged for `serving WHAT`. */
  async addr(what) {
    const found = await this.waitLog(new RegExp(`serving ${what}.*addr=(\\S+)`));
    // tracing's logs may colour the value; strip any escape.
    return found[1].replace(/\x1b\[[0-9;]*m/g, '');
  }

  /** SIGTERM, then SIGKILL if it has not exited within ms. */
  async stop(ms = 8_000) {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Runs `douyu say` to completion (bounded). */
async function say(server, room, text, name) {
  const p = new Douyu(['say', String(room), text, '--server', server, '--name', name, '--timeout', '5']);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 8_000);
  const [code] = await p.exited;
  clearTimeout(timer);
  assert.equal(code, 0, `say ${text}: ${p.log}`);
}

// A fake Douyu server for the messages `douyu serve` cannot be made to send
// on cue (gifts in a combo, hostile fields everywhere): it answers any login
// with a loginres, and sends the frames a test asks for to every client.
function frame(body) {
  const text = Buffer.from(body, 'utf8');
  const out = Buffer.alloc(12 + text.length + 1);
  out.writeUInt32LE(8 + text.length + 1, 0);
  out.writeUInt32LE(8 + text.length + 1, 4);
  out.writeUInt16LE(690, 8); // server to client
  text.copy(out, 12);
  return out;
}

/** STT-escapes a value (PROTOCOL.md: @ is @A, / is @S). */
const stt = (value) => String(value).replaceAll('@', '@A').replaceAll('/', '@S');

/** A message body from an object of fields, `type` first. */
const body = (fields) => Object.entries(fields).map(([k, v]) => `${stt(k)}@=${stt(v)}/`).join('');

class FakeServer {
  constructor() {
    this.clients = new Set();
    this.server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write(frame(body({ type: 'loginres', userid: 0, nickname: 'visitor' })));
        this.clients.add(socket);
      });
      socket.on('close', () => this.clients.delete(socket));
    });
  }

  async listen() {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `tcp://127.0.0.1:${this.server.address().port}`;
  }

  send(fields) {
    for (const socket of this.clients) socket.write(frame(body(fields)));
  }

  close() {
    for (const socket of this.clients) socket.destroy();
    this.server.close();
  }
}

let browser;
let busy; // serve --simulate 50, room 42: the mix of message types
let probe; // serve --simulate 200 --probe, room 44: chat lines carrying their send time
let fake;
let overlayBusy;
let overlayProbe;
let overlayFake;
let busyHttp;
let probeHttp;
let fakeHttp;
let busyServer;
const processes = [];

function douyu(args) {
  const p = new Douyu(args);
  processes.push(p);
  return p;
}

async function overlay(room, server, http = '127.0.0.1:0') {
  const p = douyu(['overlay', String(room), '--server', server, '--http', http, '--backoff', '0.2']);
  const addr = await p.addr('HTTP');
  await p.waitLog(/joined/);
  return [p, `http://${addr}`];
}

before(async () => {
  busy = douyu(['serve', '--tcp', '127.0.0.1:0', '--simulate', '50', '--room', '42']);
  probe = douyu(['serve', '--tcp', '127.0.0.1:0', '--simulate', '200', '--probe', '--room', '44']);
  busyServer = `tcp://${await busy.addr('TCP')}`;
  const probeServer = `tcp://${await probe.addr('TCP')}`;
  fake = new FakeServer();
  const fakeServer = await fake.listen();
  [overlayBusy, busyHttp] = await overlay(42, busyServer);
  [overlayProbe, probeHttp] = await overlay(44, probeServer);
  [overlayFake, fakeHttp] = await overlay(7, fakeServer);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    // Without the background-networking flags Chromium's own connections
    // are refused on a closed network, and it stalls on them.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (fake) fake.close();
  await Promise.all(processes.map((p) => p.stop()));
});

/** A new page at url (1280x720, as an OBS source), with its dialogs and errors recorded. */
async function open(url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.dialogs = [];
  page.errors = [];
  page.on('dialog', (dialog) => {
    page.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => page.errors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') page.errors.push(message.text());
  });
  await page.goto(url, { timeout: 10_000 });
  return page;
}

const stats = (page) => page.evaluate(() => ({ ...window.overlayStats }));

test('messages appear with their type and part classes', { timeout: 30_000 }, async () => {
  const page = await open(`${busyHttp}/?max=200`);
  // At 50 a second, 10 % gifts and 15 % arrivals: all three within seconds.
  await page.waitForFunction(
    () => ['chatmsg', 'dgb', 'uenter'].every((t) => document.querySelector(`#messages > .message.${t}`)),
    null,
    { timeout: 15_000 },
  );
  const shape = await page.evaluate(() => {
    const chat = document.querySelector('.message.chatmsg');
    const gift = document.querySelector('.message.dgb');
    return {
      chat: ['nn', 'txt', 'level'].map((c) => chat.querySelector(`.${c}`) !== null),
      // A fan badge, where the sender has one.
      badge: document.querySelector('.message.chatmsg > .badge > .badge-name + .badge-level') !== null,
      chatText: chat.querySelector('.txt').textContent.length,
      gift: gift.querySelector('.count').textContent,
      background: getComputedStyle(document.body).backgroundColor,
      every: [...document.querySelectorAll('#messages > *')].every((e) => e.classList.contains('message')),
    };
  });
  assert.deepEqual(shape.chat, [true, true, true]);
  assert.ok(shape.badge);
  assert.ok(shape.chatText > 0);
  assert.match(shape.gift, /^×\d+$/);
  assert.equal(shape.background, 'rgba(0, 0, 0, 0)', 'transparent by default');
  assert.ok(shape.every);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a hostile chat line shows as text and runs nothing', { timeout: 30_000 }, async () => {
  const page = await open(`${busyHttp}/?types=chatmsg&max=300`);
  await page.waitForFunction(() => window.overlayStats.opens === 1 && document.documentElement.dataset.feed === 'open', null, {
    timeout: 10_000,
  });
  await say(busyServer, 42, XSS, 'hostile');
  await page.waitForFunction(
    (xss) => [...document.querySelectorAll('.message.chatmsg .txt')].some((e) => e.textContent === xss),
    XSS,
    { timeout: 10_000 },
  );
  // onerror would fire at once for a broken image; give it a moment anyway.
  await sleep(500);
  const markup = await page.evaluate(() => document.querySelectorAll('#messages img, #messages script').length);
  assert.equal(markup, 0, 'no element made from the text');
  assert.deepEqual(page.dialogs, [], 'no alert');
  await page.close();
});

test('hostile fields everywhere stay text (fake server)', { timeout: 30_000 }, async () => {
  const page = await open(`${fakeHttp}/?max=50`);
  await page.waitForFunction(() => document.documentElement.dataset.feed === 'open', null, { timeout: 10_000 });
  const evil = '<img src=x onerror=alert(2)><b>b</b>"\'&amp;';
  fake.send({ type: 'chatmsg', nn: evil, txt: evil, level: evil, bnn: evil, bl: evil });
  fake.send({ type: 'dgb', nn: evil, gfid: evil, gfcnt: '1', uid: evil });
  fake.send({ type: `x ${evil}`, nn: evil });
  await page.waitForFunction(() => document.querySelectorAll('#messages > .message').length >= 3, null, { timeout: 10_000 });
  await sleep(300);
  const seen = await page.evaluate(() => ({
    markup: document.querySelectorAll('#messages img, #messages b, #messages script').length,
    nn: document.querySelector('.message.chatmsg .nn').textContent,
    badge: document.querySelector('.message.chatmsg .badge-name').textContent,
    unknown: document.querySelector('.message.unknown .txt').textContent,
  }));
  assert.equal(seen.markup, 0);
  assert.equal(seen.nn, evil);
  assert.equal(seen.badge, evil);
  assert.equal(seen.unknown, `x ${evil}`, 'an odd type is no class name but shows');
  assert.deepEqual(page.dialogs, []);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('URL filters: types, min_gift, show_level, show_badge, font_size, theme', { timeout: 30_000 }, async () => {
  const page = await open(`${busyHttp}/?types=chatmsg,uenter&show_level=0&show_badge=no&font_size=31&theme=light&max=100`);
  await page.waitForFunction(() => window.overlayStats.filtered > 5 && window.overlayStats.shown > 20, null, {
    timeout: 15_000,
  });
  const seen = await page.evaluate(() => {
    const all = [...document.querySelectorAll('#messages > .message')];
    return {
      others: all.filter((e) => !e.classList.contains('chatmsg') && !e.classList.contains('uenter')).length,
      levels: document.querySelectorAll('.level, .badge').length,
      font: getComputedStyle(document.querySelector('.message.chatmsg')).fontSize,
      theme: document.documentElement.classList.contains('theme-light'),
    };
  });
  assert.equal(seen.others, 0);
  assert.equal(seen.levels, 0);
  assert.equal(seen.font, '31px');
  assert.ok(seen.theme);
  await page.close();

  const gifts = await open(`${fakeHttp}/?types=dgb&min_gift=5`);
  await gifts.waitForFunction(() => document.documentElement.dataset.feed === 'open', null, { timeout: 10_000 });
  for (const [uid, gfcnt] of [[1, 2], [2, 5], [3, 4], [4, 9]]) {
    fake.send({ type: 'dgb', uid, nn: `u${uid}`, gfid: 824, gfcnt, hits: 1 });
  }
  fake.send({ type: 'chatmsg', nn: 'n', txt: 'not a gift' });
  await gifts.waitForFunction(() => window.overlayStats.received >= 5, null, { timeout: 10_000 });
  await sleep(300);
  const counts = await gifts.evaluate(() => [...document.querySelectorAll('.message')].map((e) => e.querySelector('.count').textContent));
  assert.deepEqual(counts, ['×5', '×9']);
  await gifts.close();
});

test('merge: repeated chat gets a ×N counter, gift combos add up', { timeout: 30_000 }, async () => {
  const plain = await open(`${fakeHttp}/?max=50`);
  const merged = await open(`${fakeHttp}/?max=50&merge=chat,gift`);
  for (const page of [plain, merged]) {
    await page.waitForFunction(() => document.documentElement.dataset.feed === 'open', null, { timeout: 10_000 });
  }
  for (let i = 0; i < 3; i++) fake.send({ type: 'chatmsg', uid: 10 + i, nn: `fan${i}`, txt: '666' });
  fake.send({ type: 'chatmsg', uid: 20, nn: 'other', txt: 'different' });
  for (let hits = 1; hits <= 4; hits++) fake.send({ type: 'dgb', uid: 30, nn: 'giver', gfid: 824, gfcnt: 2, hits });
  fake.send({ type: 'dgb', uid: 31, nn: 'another', gfid: 824, gfcnt: 1, hits: 1 });
  for (const page of [plain, merged]) {
    await page.waitForFunction(() => window.overlayStats.received >= 9, null, { timeout: 10_000 });
  }
  await sleep(300);
  const list = (page) =>
    page.evaluate(() =>
      [...document.querySelectorAll('#messages > .message')].map((e) => {
        const count = e.querySelector('.count');
        return `${e.classList[1]}:${e.querySelector('.txt').textContent}${count ? ` ${count.textContent}` : ''}`;
      }),
    );
  assert.equal((await list(plain)).length, 9);
  assert.deepEqual(await list(merged), [
    'chatmsg:666 ×3',
    'chatmsg:different',
    'dgb:sent gift 824 ×8',
    'dgb:sent gift 824 ×1',
  ]);
  await plain.close();
  await merged.close();
});

test('fade: messages go after the given seconds', { timeout: 30_000 }, async () => {
  const page = await open(`${fakeHttp}/?fade=1`);
  await page.waitForFunction(() => document.documentElement.dataset.feed === 'open', null, { timeout: 10_000 });
  fake.send({ type: 'chatmsg', nn: 'brief', txt: 'gone soon' });
  await page.waitForFunction(() => document.querySelectorAll('.message').length === 1, null, { timeout: 10_000 });
  await page.waitForFunction(() => document.querySelectorAll('.message').length === 0, null, { timeout: 5_000 });
  await page.close();
});

test('the page keeps up with 200 messages a second at max nodes', { timeout: 60_000 }, async () => {
  const max = 50;
  const page = await open(`${probeHttp}/?max=${max}&types=chatmsg`);
  await page.waitForFunction((m) => document.querySelectorAll('.message').length === m, max, { timeout: 15_000 });
  // Each probe line's text is its scheduled send time in microseconds: the
  // newest one on screen tells how far behind the page is, end to end.
  const sample = () =>
    page.evaluate(() => {
      const shown = document.querySelectorAll('#messages > .message');
      const newest = Number(shown[shown.length - 1].querySelector('.txt').textContent);
      return {
        at: Date.now(),
        lagMs: Date.now() - newest / 1000,
        nodes: document.getElementById('messages').childElementCount,
        received: window.overlayStats.received,
        dropped: window.overlayStats.dropped,
        skipped: window.overlayStats.skipped,
      };
    });
  const samples = [];
  const seconds = 12;
  for (let i = 0; i <= seconds * 4; i++) {
    samples.push(await sample());
    await sleep(250);
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  const rate = ((last.received - first.received) * 1000) / (last.at - first.at);
  const lags = samples.map((s) => s.lagMs);
  const head = lags.slice(0, 8);
  const tail = lags.slice(-8);
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sorted = [...lags].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)];
  const p95 = sorted[Math.floor(sorted.length * 0.95)];
  const maxNodes = Math.max(...samples.map((s) => s.nodes));
  const result = {
    seconds: Math.round((last.at - first.at) / 100) / 10,
    messagesPerSecond: Math.round(rate),
    lagMsP50: Math.round(p50),
    lagMsP95: Math.round(p95),
    lagMsMax: Math.round(sorted[sorted.length - 1]),
    lagMsFirstSecondsMean: Math.round(mean(head)),
    lagMsLastSecondsMean: Math.round(mean(tail)),
    domNodesMax: maxNodes,
    droppedInPage: last.dropped - first.dropped,
    skippedByServer: last.skipped - first.skipped,
  };
  console.log(`THROUGHPUT ${JSON.stringify(result)}`);
  assert.ok(rate > 180 && rate < 220, `received ${rate} a second, want about 200`);
  assert.ok(maxNodes <= max, `${maxNodes} nodes, max ${max}`);
  assert.ok(p95 < 1000, `lag p95 ${p95} ms`);
  // No growing lag: the last seconds are not behind the first ones by more
  // than a fraction of a second.
  assert.ok(mean(tail) < mean(head) + 250, `lag grew from ${mean(head)} to ${mean(tail)} ms`);
  assert.equal(result.skippedByServer, 0);
  await page.close();
});

test('the page recovers after the overlay process restarts', { timeout: 60_000 }, async () => {
  const page = await open(`${busyHttp}/?max=20`);
  await page.waitForFunction(() => window.overlayStats.received > 10, null, { timeout: 10_000 });
  const port = new URL(busyHttp).port;
  await overlayBusy.stop();
  await page.waitForFunction(() => document.documentElement.dataset.feed === 'closed', null, { timeout: 10_000 });
  const before = (await stats(page)).received;
  await sleep(1500);
  assert.equal((await stats(page)).received, before, 'nothing while it is down');
  [overlayBusy] = await overlay(42, busyServer, `127.0.0.1:${port}`);
  await page.waitForFunction(
    (n) => document.documentElement.dataset.feed === 'open' && window.overlayStats.received > n + 20,
    before,
    { timeout: 20_000 },
  );
  // Connections refused while it was down are expected; a stream cut off
  // mid-chunk (the old process not ending it cleanly) is not.
  assert.deepEqual(page.errors.filter((e) => !/ERR_CONNECTION_REFUSED/.test(e)), []);
  await page.close();
});

test('a screenshot for review', { timeout: 30_000 }, async () => {
  const page = await open(`${busyHttp}/?max=14&merge=chat,gift`);
  // What a streamer would put in OBS's custom CSS box; here a stand-in for
  // the video behind the transparent page.
  await page.addStyleTag({
    content: 'html { background: linear-gradient(135deg, #2b5876, #4e4376) !important; min-height: 100%; }',
  });
  await page.waitForFunction(() => window.overlayStats.opens >= 1 && document.documentElement.dataset.feed === 'open', null, {
    timeout: 10_000,
  });
  await page.waitForFunction(() => document.querySelectorAll('.message').length >= 14, null, { timeout: 15_000 });
  await say(busyServer, 42, XSS, '<b>hostile</b>');
  // Taken as soon as the hostile line shows, while it is still on screen.
  await page.waitForFunction(
    (xss) => [...document.querySelectorAll('.message.chatmsg .txt')].some((e) => e.textContent === xss),
    XSS,
    { timeout: 10_000 },
  );
  await page.screenshot({ path: SCREENSHOT });
  console.log(`SCREENSHOT ${SCREENSHOT}`);
  await page.close();
});
