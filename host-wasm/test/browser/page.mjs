// Runs in headless Chromium (see ../browser.test.mjs): imports the package's
// browser entry as an ES module, decodes the shared vectors and watches a
// room over the browser's own WebSocket, and POSTs what it got to the test's
// server. The checks are made there, in Node, against the vectors.

import { frame } from './frame.mjs';

const post = (path, value) =>
  fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
const fail = (what, error) => post('/error', { what, error: String(error?.stack ?? error) });
addEventListener('error', (e) => fail('error', e.error ?? e.message));
addEventListener('unhandledrejection', (e) => fail('unhandledrejection', e.reason));

const params = new URLSearchParams(location.search);
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms))]);

const hex = (s) => new Uint8Array(s.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);

async function vectors(name) {
  const text = await (await fetch(`/vectors/${name}`)).text();
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

/** What one decoded message is made of, as JSON can carry it. */
function shape(d, m) {
  const f = d.frameOf(m);
  // Own properties as [key, value]: a key such as __proto__ stays data.
  return { first: Object.entries(m), pairs: d.pairs(m), direction: f.direction, encryption: f.encryption, reserved: f.reserved, offset: f.offset, body: f.body };
}

function caught(d, fn) {
  try {
    return { value: fn() };
  } catch (e) {
    return { error: { decodeError: e instanceof d.DecodeError, kind: e.kind, offset: e.offset } };
  }
}

async function decodeVectors(d) {
  const out = {};
  out.frames = (await vectors('frames.jsonl')).map((c) => {
    const decoder = new d.Decoder();
    const r = caught(d, () => decoder.feed(hex(c.hex)).map((m) => shape(d, m)));
    return { name: c.name, ...r, buffered: decoder.buffered };
  });
  const decoder = new d.Decoder();
  out.realBodies = (await vectors('real_bodies.jsonl')).map((c) => {
    const [m] = decoder.feed(frame(c.body));
    const again = d.frameOf(new d.Decoder().feed(d.encode(m, 'server'))[0]).body;
    return { source: c.source, ...shape(d, m), type: m.type, again };
  });
  out.realStreams = (await vectors('real_streams.jsonl')).map((c) => {
    const dec = new d.Decoder();
    const ms = dec.feed(hex(c.hex)).map((m) => ({ type: d.frameOf(m).direction, body: d.frameOf(m).body }));
    return { what: c.what, messages: ms, buffered: dec.buffered };
  });
  out.nested = (await vectors('stt_nested.jsonl')).map((c) => {
    const r = { name: c.name };
    if (c.list) r.list = d.list(c.value);
    if (c.items_as_maps) r.itemsAsMaps = d.list(c.value).map((item) => d.pairs(item));
    if (c.deep) {
      const inner = d.map(d.list(c.value), 0);
      r.deep = d.list(inner, Object.keys(inner)[0]);
    }
    if (c.wire) {
      r.decoded = new d.Decoder().feed(frame(`k@=${c.wire}/`))[0].k;
      r.encoded = d.frameOf(new d.Decoder().feed(d.encode({ k: c.value }))[0]).body;
    }
    return r;
  });
  // The error classes are the package's, thrown across the module boundary.
  try {
    new d.Decoder().feed(hex('0500000005000000b1020000'));
    out.errorClass = 'no error';
  } catch (e) {
    out.errorClass = { decodeError: e instanceof d.DecodeError, douyuError: e instanceof d.DouyuError, kind: e.kind, offset: e.offset };
  }
  return out;
}

async function watchRoom(d) {
  const events = [];
  const chats = [];
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 20_000);
  const loop = async () => {
    for await (const m of d.watch(Number(params.get('room')), params.get('ws'), {
      username: 'wasm_browser',
      signal: abort.signal,
      onEvent: (e) => events.push({ kind: e.kind, type: e.message?.type }),
    })) {
      if (m.type === 'chatmsg') chats.push({ rid: m.rid, txt: m.txt, direction: d.frameOf(m).direction });
      if (chats.length >= 3) break;
    }
  };
  await withTimeout(loop(), 25_000, 'watch');
  clearTimeout(timer);
  return { events, chats, aborted: abort.signal.aborted };
}

try {
  const d = await withTimeout(import('/dist/browser.js'), 15_000, 'import');
  const result = {
    userAgent: navigator.userAgent,
    nativeWebSocket: typeof WebSocket === 'function' && /\[native code\]/.test(Function.prototype.toString.call(WebSocket)),
    vectors: await withTimeout(decodeVectors(d), 15_000, 'vectors'),
    watch: await watchRoom(d),
  };
  await post('/result', result);
} catch (e) {
  await fail('page', e);
}
