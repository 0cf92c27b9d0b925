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

function ours(chunks) {
  const d = new Decoder();
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

function time(fn, chunks, runs) {
  fn(chunks); // warm up
  const times = [];
  let result;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    result = fn(chunks);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(runs / 2)], result };
}

const bytes = corpus();
const mb = bytes.length / 1e6;
const runs = Number(process.env.RUNS ?? 5);
console.log(`corpus: ${(bytes.length / 1048576).toFixed(1)} MiB; Node ${process.version}; median of ${runs} runs`);
console.log('| input | decoder | ms | MB/s | messages/s | chatmsg | speed-up |');
console.log('|---|---|---:|---:|---:|---:|---:|');
const row = (input, name, t, base) =>
  console.log(
    `| ${input} | ${name} | ${t.ms.toFixed(0)} | ${(mb / (t.ms / 1000)).toFixed(1)} | ${(t.result.messages / (t.ms / 1000) / 1e6).toFixed(2)} M | ${t.result.chats} | ${base ? `${(base.ms / t.ms).toFixed(1)}×` : ''} |`,
  );
let agreement;
for (const [input, chunks] of [
  ['one frame per message', frameChunks(bytes, 1)],
  ['whole frames, ~4 KiB messages', frameChunks(bytes, 4096)],
]) {
  const them = time(douyudm, chunks, runs);
  const us = time(ours, chunks, runs);
  row(input, 'douyudm 2.0.1', them);
  row(input, 'douyu-wasm', us, them);
  agreement ??= { us: us.result, them: them.result };
}
const cut = time(ours, cutChunks(bytes, 65536), runs);
row('64 KiB reads, frames cut anywhere', 'douyu-wasm', cut);
console.log('| 64 KiB reads, frames cut anywhere | douyudm 2.0.1 | — | loses the frames cut at a read boundary | | | |');

// The floor of any decoder that returns plain objects: building the same
// objects from keys and values already in hand (strings made beforehand).
const entries = [];
{
  const d = new Decoder();
  for (const c of cutChunks(bytes, 65536)) for (const m of d.feed(c)) entries.push(Object.entries(m).flat());
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
row('(floor) the same plain objects built from ready strings', 'plain JavaScript', time(build, entries, runs));

const { us, them } = agreement;
let differ = 0;
for (let i = 0; i < Math.min(us.txt.length, them.txt.length); i++) if (us.txt[i] !== them.txt[i]) differ++;
console.log(`\nchatmsg: douyu-wasm ${us.chats}, douyudm ${them.chats} (${us.chats === them.chats ? 'agree' : 'DIFFER'}); messages ${us.messages} / ${them.messages}`);
console.log(`txt values that differ (douyudm's unescaping): ${differ} of ${us.txt.length}`);
