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
  wasmMemory,
} from './douyu_wasm.js';

export { DouyuError, DecodeError, EncodeError, SessionError } from './errors.js';

/** The key under which a decoded message keeps its frame (not enumerable). */
export const FRAME = Symbol('douyu.frame');

/** A batch index marks an unknown stream offset with both halves all ones. */
const NO_OFFSET = 0xffffffff;
/** The shape word of a message with no shape (src/batch.rs). */
const NO_SHAPE = 0xffffffff;
/**
 * Key word flags (src/batch.rs): the key is in the text; it is numbered now.
 * Key and value words: the text is in the wide text, not the ASCII one.
 */
const INLINE = 0x80000000;
const NEW = 0x40000000;
const WIDE = 0x20000000;
const LENGTH = 0x1fffffff;
/** A shape's objects are built by code made for it once seen this often. */
const BUILD_AFTER = 4;

function define(object, key, value) {
  // `__proto__` as a plain assignment would set the prototype, not a key.
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

const utf8 = new TextDecoder();

/**
 * Bytes of a block the bodies of many small batches are copied into: a
 * message kept keeps its block (at most this) from being collected.
 */
const BLOCK = 1 << 16;

/**
 * Views of the module's memory. Growing the memory detaches them (their
 * length reads 0), and then they are made again: a test of a length, where
 * comparing buffers asks the memory for its buffer on every call.
 */
let memory;
let u8 = new Uint8Array(0);
let u32;
function views() {
  if (u8.length === 0) {
    memory ??= wasmMemory();
    u8 = new Uint8Array(memory.buffer);
    u32 = new Uint32Array(memory.buffer);
  }
}

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
 * What a decoder's batches refer to by number (src/batch.rs): its keys, and
 * per shape (a sequence of keys) how often it was seen and its builder.
 */
function tables() {
  return { keys: [], seen: [], builders: [] };
}

/** Where a builder leaves the ends of the two texts it read. */
const state = { t: 0, w: 0 };

/** `new Function` may be refused (a Content-Security-Policy without 'unsafe-eval'). */
let codegen = true;

/**
 * A function building the plain objects of one shape as object literals,
 * which V8 makes far faster than adding properties one by one to `{}`:
 * `(text, wide, index, i, t, w)` → the object, its values sliced from
 * `text` at `t` or `wide` at `w` by the words at `index[i + 1]`,
 * `index[i + 3]`, …; it leaves the ends in `state`. Keys are data from the
 * peer: each stands in the code only as a JSON string literal. `undefined`
 * when code cannot be made here, or for `__proto__` (as a literal key it
 * would set the prototype).
 */
function compile(keys) {
  if (!codegen || keys.includes('__proto__')) return undefined;
  let code = '';
  const props = [];
  keys.forEach((key, k) => {
    code += `const n${k} = index[i + ${2 * k + 1}];`;
    code += `const v${k} = n${k} < ${WIDE} ? text.slice(t, (t += n${k})) : wide.slice(w, (w += n${k} - ${WIDE}));`;
    props.push(`${JSON.stringify(key)}: v${k}`);
  });
  code += `state.t = t; state.w = w; return { ${props.join(', ')} };`;
  try {
    return new Function('state', `return function build(text, wide, index, i, t, w) { ${code} };`)(state);
  } catch {
    codegen = false;
    return undefined;
  }
}

/** The builder of `shape` (whose pairs start at `index[i]`), or `undefined`. */
function builderOf(tables, shape, index, i, count) {
  const built = tables.builders[shape];
  if (built !== undefined) return built || undefined;
  const seen = (tables.seen[shape] ?? 0) + 1;
  tables.seen[shape] = seen;
  if (seen < BUILD_AFTER) return undefined;
  const keys = [];
  for (let k = 0; k < count; k++) keys.push(tables.keys[index[i + 2 * k]]);
  const build = compile(keys);
  tables.builders[shape] = build ?? false;
  return build;
}

/**
 * Slices a batch (two strings of keys and values, ASCII and wide, an index
 * of key numbers and UTF-16 lengths from `index[i]` up to `index[end]`, the
 * bodies' bytes from `bodies[b]` on) into messages.
 */
function messages(text, wide, index, i, end, bodies, b, tables) {
  const out = [];
  let t = 0;
  let w = 0;
  const keys = tables.keys;
  while (i < end) {
    const head = index[i];
    const lo = index[i + 1];
    const hi = index[i + 2];
    const bodyLength = index[i + 3];
    const count = index[i + 4];
    const shape = index[i + 5];
    i += 6;
    let message;
    const build = shape === NO_SHAPE ? undefined : builderOf(tables, shape, index, i, count);
    if (build !== undefined) {
      message = build(text, wide, index, i, t, w);
      t = state.t;
      w = state.w;
      i += 2 * count;
    } else {
      message = {};
      for (let k = 0; k < count; k++, i += 2) {
        const word = index[i];
        let key;
        if (word < INLINE) {
          key = keys[word];
        } else {
          const n = word & LENGTH;
          key = (word & WIDE) === 0 ? text.slice(t, (t += n)) : wide.slice(w, (w += n));
          if ((word & NEW) !== 0) keys.push(key);
        }
        const n = index[i + 1];
        const value = n < WIDE ? text.slice(t, (t += n)) : wide.slice(w, (w += n - WIDE));
        // Inlined `define`: this loop is the decoder's hottest JavaScript.
        if (key !== '__proto__') message[key] = value;
        else define(message, key, value);
      }
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
  #tables = tables();
  /** The module's input window (src/decoder.rs): address and length. */
  #inputAt = 0;
  #inputLength = 0;
  /** The block the bodies of small batches are copied into, and its end. */
  #block = new Uint8Array(BLOCK);
  #blockEnd = 0;

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
    const input = bytesOf(bytes);
    // The bytes go into the module's input window, made larger when they
    // do not fit; then one call, and the batch is read where it lies in
    // the module's memory.
    if (input.length > this.#inputLength) {
      this.#inputAt = this.#raw.input(input.length);
      this.#inputLength = input.length;
    }
    views();
    u8.set(input, this.#inputAt);
    // Twelve words (src/decoder.rs): where the index, the two texts and
    // the bodies are and how long, whether there is an error, whether the
    // tables were reset, where the input window is now.
    const at = this.#raw.feed(input.length) >>> 2;
    views();
    this.#inputAt = u32[at + 10];
    this.#inputLength = u32[at + 11];
    const indexAt = u32[at] >>> 2;
    const indexEnd = indexAt + u32[at + 1];
    let out = [];
    if (indexAt !== indexEnd) {
      const textAt = u32[at + 2];
      const wideAt = u32[at + 4];
      const wideLength = u32[at + 5];
      const bodiesAt = u32[at + 6];
      const bodiesLength = u32[at + 7];
      const text = utf8.decode(u8.subarray(textAt, textAt + u32[at + 3]));
      const wide = wideLength === 0 ? '' : utf8.decode(u8.subarray(wideAt, wideAt + wideLength));
      // Bodies are copied out of the module's memory (the next call writes
      // over them): the small batches of many calls into one block, which
      // costs a tenth of a copy of their own (an allocation per call).
      let bodies = this.#block;
      let b = this.#blockEnd;
      if (bodiesLength > BLOCK / 4) {
        bodies = u8.slice(bodiesAt, bodiesAt + bodiesLength);
        b = 0;
      } else {
        if (b + bodiesLength > BLOCK) {
          this.#block = bodies = new Uint8Array(BLOCK);
          b = 0;
        }
        bodies.set(u8.subarray(bodiesAt, bodiesAt + bodiesLength), b);
        this.#blockEnd = b + bodiesLength;
      }
      out = messages(text, wide, u32, indexAt, indexEnd, bodies, b, this.#tables);
    }
    if (u32[at + 9]) this.#tables = tables();
    const error = u32[at + 8] ? this.#raw.takeError() : undefined;
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
      const { kind, text, wide, index, bodies } = event;
      return { kind, message: messages(text, wide, index, 0, index.length, bodies, 0, tables())[0] };
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
