// Shared by the tests: where the vectors and the douyu binary are, and a
// frame builder that writes the header by hand (independent of the package).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../../', import.meta.url));
export const vectorsDir = process.env.DOUYU_VECTORS ?? fileURLToPath(new URL('../../../shared/vectors/', import.meta.url));
export const douyuBin = process.env.DOUYU_BIN ?? `${repo}target/debug/douyu`;

export function vectors(name) {
  return readFileSync(`${vectorsDir}/${name}`, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

export const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));

/** A frame around `body` (a string or bytes), written by hand. */
export function frame(body, type = 690) {
  const b = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const out = new Uint8Array(12 + b.length + 1);
  const v = new DataView(out.buffer);
  v.setUint32(0, b.length + 9, true);
  v.setUint32(4, b.length + 9, true);
  v.setUint16(8, type, true);
  out.set(b, 12);
  return out;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A small deterministic generator (xorshift32), so failures reproduce. */
export function rng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}
