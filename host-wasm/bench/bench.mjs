// npm run bench [-- CORPUS_FILE]: this package's Decoder against npm
// douyudm's decoder (Packet.Decode + STT.deserialize), in one Node process,
// on a corpus from `douyu generate`. douyudm is a devDependency used only
// here; it is measured, never used by the package.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Decoder } from '../dist/node.js';
import { RawDecoder, wasmMemory } from '../dist/douyu_wasm.js';

// BASELINE=/path/to/another/build/dist/node.js: that build's Decoder too,
// taken in turn with the others (before/after a change, in the same minute).
const Baseline = process.env.BASELINE ? (await import(process.env.BASELINE)).Decoder : null;

const require = createRequire(import.meta.url);
const { Packet, STT } = require('douyudm');

const repo = fileURLToPath(new URL('../../', import.meta.url));
const megabytes = Number(process.env.MEGABYTES ?? 16);

function corpus() {
  if (process.argv[2]) return new Uint8Array(readFileSync(process.argv[2]));
  const bin = ['release', 'debug'].map((p) => `${repo}target/${p}/douyu`).find(existsSync);
  if (!bin) throw new Error('build douyu first: cargo build -p douyu-host');
  const file = join(mkdtempSync(join(tmpdir(), 'douyu-bench-')), 'corpus.bin');
  execFileSync(bin, ['generate', '--megabytes', `${megabytes}`, '--output', file]);
  return new Uint8Array(readFileSync(file));
}

/** Whole-frame chunks of about `size` bytes, as WebSocket messages carry them. */
function frameChunks(bytes, size) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks = [];
  let start = 0;
  let at = 0;
  while (at + 4 <= bytes.length) {
    at += 4 + view.getUint32(at, true);
    if (at - start >= size) {
      chunks.push(bytes.subarray(start, at));
      start = at;
    }
  }
  if (start < bytes.length) chunks.push(bytes.subarray(start));
  return chunks;
}

function cutChunks(bytes, size) {
  const chunks = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

function ours(chunks, D = Decoder) {
  const d = new D();
  let messages = 0;
  let chats = 0;
  const txt = [];
  for (const c of chunks) {
    for (const m of d.feed(c)) {
      messages++;
      if (m.type === 'chatmsg') {
        chats++;
        txt.push(m.txt);
      }
    }
  }
  d.free();
  return { messages, chats, txt };
}

function douyudm(chunks) {
  let messages = 0;
  let chats = 0;
  const txt = [];
  for (const c of chunks) {
    Packet.Decode(c, (body) => {
      const m = STT.deserialize(body);
      messages++;
      if (m.type === 'chatmsg') {
        chats++;
        txt.push(m.txt);
      }
    });
  }
  return { messages, chats, txt };
}

/** Median of `runs` timed runs of each function, taken in turn (a, b, a,
 * b, …) so that both see the same load; and the median of the ratios of
 * each turn's times (first / others). */
function alternate(fns, arg, runs) {
  for (const fn of fns) fn(arg); // warm up
  const times = fns.map(() => []);
  const results = [];
  for (let r = 0; r < runs; r++) {
    fns.forEach((fn, k) => {
      const t = performance.now();
      results[k] = fn(arg);
      times[k].push(performance.now() - t);
    });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return fns.map((_, k) => ({
    ms: median(times[k]),
    result: results[k],
    ratio: median(times[0].map((t0, r) => t0 / times[k][r])),
  }));
}

const bytes = corpus();
const mb = bytes.length / 1e6;
const runs = Number(process.env.RUNS ?? 5);
console.log(`corpus: ${(bytes.length / 1048576).toFixed(1)} MiB; Node ${process.version}; median of ${runs} runs, the decoders taken in turn`);
console.log('| input | decoder | ms | MB/s | messages/s | chatmsg | speed-up (median of the turns\' ratios) |');
console.log('|---|---|---:|---:|---:|---:|---:|');
const row = (input, name, t, base) =>
  console.log(
    `| ${input} | ${name} | ${t.ms.toFixed(0)} | ${(mb / (t.ms / 1000)).toFixed(1)} | ${(t.result.messages / (t.ms / 1000) / 1e6).toFixed(2)} M | ${t.result.chats} | ${base ? `${t.ratio.toFixed(1)}×` : ''} |`,
  );
let agreement;
for (const [input, chunks] of [
  ['one frame per message', frameChunks(bytes, 1)],
  ['whole frames, ~4 KiB messages', frameChunks(bytes, 4096)],
]) {
  const fns = [douyudm, ours];
  if (Baseline) fns.push((c) => ours(c, Baseline));
  const [them, us, base] = alternate(fns, chunks, runs);
  row(input, 'douyudm 2.0.1', them);
  row(input, 'douyu-wasm', us, them);
  if (base) row(input, 'douyu-wasm, BASELINE', base, them);
  agreement ??= { us: us.result, them: them.result };
}
const cut = cutChunks(bytes, 65536);
row('64 KiB reads, frames cut anywhere', 'douyu-wasm', alternate([ours], cut, runs)[0]);
console.log('| 64 KiB reads, frames cut anywhere | douyudm 2.0.1 | — | loses the frames cut at a read boundary | | | |');

// Floors, not decoders: what returning plain objects costs in JavaScript
// with every string already in hand, (a) adding the properties one by one
// to {} (what a decoder that does not know the keys in advance does), (b)
// JSON.parse of the same messages as JSON text (V8 builds the objects
// natively; ~4 KiB of frames per text), each timed in turn with douyudm.
const entries = [];
const jsons = [];
{
  const d = new Decoder();
  for (const c of frameChunks(bytes, 4096)) {
    const ms = d.feed(c);
    for (const m of ms) entries.push(Object.entries(m).flat());
    jsons.push(JSON.stringify(ms));
  }
}
const build = (all) => {
  let messages = 0;
  let chats = 0;
  for (const kv of all) {
    const o = {};
    for (let i = 0; i < kv.length; i += 2) o[kv[i]] = kv[i + 1];
    messages++;
    if (o.type === 'chatmsg') chats++;
  }
  return { messages, chats };
};
const parse = (all) => {
  let messages = 0;
  let chats = 0;
  for (const text of all) {
    for (const o of JSON.parse(text)) {
      messages++;
      if (o.type === 'chatmsg') chats++;
    }
  }
  return { messages, chats };
};
const fourK = frameChunks(bytes, 4096);
// A part of ours, not a decoder: the WebAssembly module alone (the bytes
// copied in; frames, STT, unescaping, the batch written), its batches
// never read.
const moduleOnly = (chunks) => {
  const raw = new RawDecoder(65536);
  const memory = wasmMemory();
  for (const c of chunks) {
    const at = raw.input(c.length);
    new Uint8Array(memory.buffer, at, c.length).set(c);
    raw.feed(c.length);
  }
  raw.free();
  return { messages: agreement.us.messages, chats: agreement.us.chats };
};
const [base0, part] = alternate([douyudm, moduleOnly], fourK, runs);
row('(part of ours) the WebAssembly module alone, its batches not read', 'douyu-wasm RawDecoder', part, base0);
const [base1, floor] = alternate([douyudm, () => build(entries)], fourK, runs);
row('(floor a) the plain objects built from ready strings, o[key] = value', 'plain JavaScript', floor, base1);
const [base2, parsed] = alternate([douyudm, () => parse(jsons)], fourK, runs);
row('(floor b) JSON.parse of the same messages as JSON text', 'plain JavaScript', parsed, base2);

const { us, them } = agreement;
let differ = 0;
for (let i = 0; i < Math.min(us.txt.length, them.txt.length); i++) if (us.txt[i] !== them.txt[i]) differ++;
console.log(`\nchatmsg: douyu-wasm ${us.chats}, douyudm ${them.chats} (${us.chats === them.chats ? 'agree' : 'DIFFER'}); messages ${us.messages} / ${them.messages}`);
console.log(`txt values that differ (douyudm's unescaping): ${differ} of ${us.txt.length}`);
