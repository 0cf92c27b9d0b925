// A frame around a body, with the header written by hand (independent of the
// package under test). Plain JavaScript, so that both the Node tests and the
// browser page import it.

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
