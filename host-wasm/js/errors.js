// The exceptions of the package. The WebAssembly side creates them through
// makeError (it imports this file), so that every error, wherever it is
// found, is an instance of the same classes.

/** Base class: `kind` is the core's error class (`too_large`, …). */
export class DouyuError extends Error {
  constructor(message, details) {
    super(message);
    Object.assign(this, details);
  }
}

/** Bytes or text that could not be decoded. */
export class DecodeError extends DouyuError {}

/** A message that could not be encoded (a NUL, a value of no STT shape). */
export class EncodeError extends DouyuError {}

/** A session call made at the wrong time, or a chat that does not fit. */
export class SessionError extends DouyuError {}

for (const C of [DouyuError, DecodeError, EncodeError, SessionError]) {
  Object.defineProperty(C.prototype, 'name', { value: C.name, configurable: true, writable: true });
}

const classes = { decode: DecodeError, encode: EncodeError, session: SessionError };

/** Called from Rust: an error of class `which` ('decode', 'encode', 'session'). */
export function makeError(which, message, details) {
  return new classes[which](message, details);
}
