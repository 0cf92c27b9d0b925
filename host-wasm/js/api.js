// The package's API over the raw bindings (douyu_wasm.js, made by
// wasm-bindgen). This file moves values between JavaScript and the core:
// bytes in, plain objects out. Framing, escapes and the session's rules are
// all in the WebAssembly module.

import {
  RawClient,
  RawDecoder,
  defaultMaxFrame,
  encode as rawEncode,
  listItems,
  mapPairs,
} from './douyu_wasm.js';

export { DouyuError, DecodeError, EncodeError, SessionError } from './errors.js';

/** The key under which a decoded message keeps its frame (not enumerable). */
export const FRAME = Symbol('douyu.frame');

/** A batch index marks an unknown stream offset with both halves all ones. */
const NO_OFFSET = 0xffffffff;

function define(object, key, value) {
  // `__proto__` as a plain assignment would set the prototype, not a key.
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

const utf8 = new TextDecoder();

/** The frame a message came in; its body is decoded when first read. */
class Frame {
  #bytes;
  #start;
  #end;
  #body;

  constructor(head, offset, bytes, start, end) {
    this.direction = head & 0xffff;
    this.encryption = (head >>> 16) & 0xff;
    this.reserved = head >>> 24;
    this.offset = offset;
    this.#bytes = bytes;
    this.#start = start;
    this.#end = end;
  }

  /** The STT body as received, escapes included. */
  get body() {
    this.#body ??= utf8.decode(this.#bytes.subarray(this.#start, this.#end));
    return this.#body;
  }
}

/**
 * Slices a batch (one string of keys and values, an index of UTF-16
 * lengths, the bodies' bytes) into messages.
 */
function messages(text, index, bodies) {
  let b = 0;
  const out = [];
  let t = 0;
  let i = 0;
  while (i < index.length) {
    const head = index[i];
    const lo = index[i + 1];
    const hi = index[i + 2];
    const bodyLength = index[i + 3];
    const count = index[i + 4];
    i += 5;
    const message = {};
    for (let k = 0; k < count; k++) {
      const key = text.slice(t, (t += index[i]));
      const value = text.slice(t, (t += index[i + 1]));
      i += 2;
      // Inlined `define`: this loop is the decoder's hottest JavaScript.
      if (key !== '__proto__') message[key] = value;
      else define(message, key, value);
    }
    const offset = lo === NO_OFFSET && hi === NO_OFFSET ? null : hi * 0x100000000 + lo;
    const frame = new Frame(head, offset, bodies, b, (b += bodyLength));
    Object.defineProperty(message, FRAME, { value: frame });
    out.push(message);
  }
  return out;
}

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('bytes must be a Uint8Array, an ArrayBuffer or a view of one');
}

const now = () => performance.now();

/**
 * Reassembles frames from a byte stream (sans-IO): bytes in, messages out.
 * Memory is bounded by `maxFrame`: a larger frame throws a `DecodeError`
 * (`too_large`) and is skipped; the frames after it decode normally.
 */
export class Decoder {
  #raw;

  constructor({ maxFrame = defaultMaxFrame() } = {}) {
    this.#raw = new RawDecoder(maxFrame);
  }

  /**
   * Takes bytes and returns the messages they complete, in order. On a bad
   * frame throws a `DecodeError` whose `messages` holds those decoded before
   * it; unless the error is `fatal`, the next call (`feed()` will do) goes on
   * with the bytes after it.
   */
  feed(bytes = new Uint8Array(0)) {
    const index = this.#raw.feed(bytesOf(bytes));
    const out = index.length === 0 ? [] : messages(this.#raw.text(), index, this.#raw.bodies());
    const error = this.#raw.takeError();
    if (error !== undefined) {
      error.messages = out;
      throw error;
    }
    return out;
  }

  /** The largest frame accepted, in bytes. */
  get maxFrame() {
    return this.#raw.maxFrame;
  }

  /** Bytes received and not yet returned as messages. */
  get buffered() {
    return this.#raw.buffered;
  }

  /** Stream offset of the next byte to decode. */
  get position() {
    return this.#raw.position;
  }

  /** Frees the WebAssembly memory now rather than when collected. */
  free() {
    this.#raw.free();
  }
}

function textOf(value, key) {
  const text = key === undefined ? value : value?.[key];
  if (text === undefined) return undefined;
  if (typeof text !== 'string') throw new TypeError('an STT map or list is read from a string');
  return text;
}

/**
 * Every pair of a message (or of the STT map `text`) in order, duplicates
 * included, each `[key, value]`.
 */
export function pairs(message) {
  const text = typeof message === 'string' ? message : message?.[FRAME]?.body;
  if (text === undefined) return Object.entries(message);
  const flat = mapPairs(text, false);
  const out = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

/**
 * `value[key]` (or `value` itself with no key) read as a nested STT map: a
 * plain object of the first value of each key; `undefined` if absent.
 */
export function map(value, key) {
  const text = textOf(value, key);
  if (text === undefined) return undefined;
  const flat = mapPairs(text, true);
  const out = {};
  for (let i = 0; i < flat.length; i += 2) define(out, flat[i], flat[i + 1]);
  return out;
}

/** `value[key]` (or `value` itself) read as an STT list of strings. */
export function list(value, key) {
  const text = textOf(value, key);
  return text === undefined ? undefined : listItems(text);
}

/** The frame a message came in: `{ direction, offset, body }`. */
export function frameOf(message) {
  return message?.[FRAME];
}

/**
 * One frame carrying `message`: an object, a `Map`, an array of
 * `[key, value]` pairs, or a decoded message (all its pairs). Nested objects
 * become STT maps, arrays lists. `direction`: 'client' (default), 'server'
 * or the 16-bit type field.
 */
export function encode(message, direction = 'client') {
  const frame = message?.[FRAME];
  return rawEncode(frame ? pairs(message) : message, direction);
}

/**
 * The client session over one connection (sans-IO, in the manner of h11).
 * Times are milliseconds of a monotonic clock, `performance.now()` when
 * omitted; `timeout()` answers in the same clock.
 */
export class Client {
  #raw;

  constructor(room, { now: at = now(), username, heartbeat, maxFrame = defaultMaxFrame(), webUid } = {}) {
    this.#raw = new RawClient(Number(room), at, maxFrame, username, heartbeat, webUid === undefined ? undefined : Number(webUid));
  }

  /** Bytes from the server; empty bytes when the server closed. */
  receiveData(bytes, at = now()) {
    this.#raw.receiveData(bytesOf(bytes), at);
  }

  /** Bytes to send to the server (empty when there are none). */
  dataToSend() {
    return this.#raw.dataToSend();
  }

  /**
   * The next event, or `null`: `{ kind: 'loggedIn' | 'message', message }`,
   * `{ kind: 'joined', room }`, `{ kind: 'serverError', code }`,
   * `{ kind: 'dead', silentFor }`, `{ kind: 'closed', reason, message }`.
   * Throws a `DecodeError` for unreadable input; the session goes on unless
   * a `closed` event follows.
   */
  nextEvent() {
    const event = this.#raw.nextEvent();
    if (event === undefined) return null;
    if (event.text !== undefined) {
      const { kind, text, index, bodies } = event;
      return { kind, message: messages(text, index, bodies)[0] };
    }
    return event;
  }

  /** When `handleTimeout` must next be called, or `null` once closed. */
  timeout() {
    return this.#raw.timeout() ?? null;
  }

  /** Advances the session's clock: heartbeats, dead-link detection. */
  handleTimeout(at = now()) {
    this.#raw.handleTimeout(at);
  }

  /** Queues a chat line, sent once logged in. */
  queueChat(text) {
    this.#raw.queueChat(text);
  }

  /** Asks who is online (this project's `whoreq`). */
  requestWho() {
    this.#raw.requestWho();
  }

  /** Starts a clean logout; `dataToSend()` then gives it. */
  close() {
    this.#raw.close();
  }

  get room() {
    return this.#raw.room;
  }

  get isClosed() {
    return this.#raw.isClosed;
  }

  /** Frees the WebAssembly memory now rather than when collected. */
  free() {
    this.#raw.free();
  }
}
