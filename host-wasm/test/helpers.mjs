// Shared by the tests: where the vectors and the douyu binary are, and a
// frame builder that writes the header by hand (independent of the package;
// in browser/frame.mjs, which the browser page imports too).

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

export { frame } from './browser/frame.mjs';

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
