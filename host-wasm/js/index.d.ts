// Type declarations of douyu-wasm (hand-written; the API is in api.js and watch.js).

/** Bytes as the API takes them. */
export type Bytes = Uint8Array | ArrayBuffer | ArrayBufferView;

/** The frame a message came in. */
export interface Frame {
  /** The type field: 689 client to server, 690 server to client. */
  direction: number;
  /** The encryption byte (0). */
  encryption: number;
  /** The reserved byte (0). */
  reserved: number;
  /** The frame's byte offset in the stream (`null` from a `Client`). */
  offset: number | null;
  /** The STT body as received, escapes included. */
  body: string;
}

/**
 * A decoded message: a plain object holding the first value of each key,
 * unescaped once. `pairs(message)` gives every pair in order; `map` and
 * `list` read a value as a nested map or list; `frameOf` gives its frame.
 */
export interface Message {
  readonly [key: string]: string;
}

/** The key of a message's frame (not enumerable); see `frameOf`. */
export const FRAME: unique symbol;

/** Base class of the package's errors. */
export class DouyuError extends Error {
  /** The core's error class: `too_large`, `bad_escape`, `nul_byte`, … */
  kind: string;
  /** Stream offset of the bad frame (decoding a stream). */
  offset?: number;
  /** Byte offset in the body (or text) of a bad escape, pair, NUL. */
  bodyOffset?: number;
  /** Whether the stream cannot go on (the decoder repeats the error). */
  fatal?: boolean;
  /** Values the core reports: `first`/`second` (length_mismatch), `length`,
   * `capacity` (too_large), `found` (missing_terminator), `validUpTo`, … */
  [detail: string]: unknown;
}
/** Bytes or text that could not be decoded. */
export class DecodeError extends DouyuError {
  /** From `Decoder.feed`: the messages decoded before the error. */
  messages?: Message[];
}
/** A message that could not be encoded. */
export class EncodeError extends DouyuError {}
/** A session call at the wrong time, or a chat line that does not fit. */
export class SessionError extends DouyuError {}

export interface DecoderOptions {
  /** The largest whole frame accepted, in bytes (12 to 16 MiB; default 64 KiB). */
  maxFrame?: number;
}

/** Reassembles frames from a byte stream (sans-IO): bytes in, messages out. */
export class Decoder {
  constructor(options?: DecoderOptions);
  /**
   * Takes bytes and returns the messages they complete. Throws a
   * `DecodeError` (with `messages` decoded before it) on a bad frame; unless
   * it is `fatal`, the next call goes on after it.
   */
  feed(bytes?: Bytes): Message[];
  readonly maxFrame: number;
  /** Bytes received and not yet returned as messages. */
  readonly buffered: number;
  /** Stream offset of the next byte to decode. */
  readonly position: number;
  /** Frees the WebAssembly memory now rather than when collected. */
  free(): void;
}

/** Every pair of a message (or of STT map text) in order, duplicates included. */
export function pairs(message: Message | string): [string, string][];
/** `value[key]` (or `value`) read as a nested STT map; `undefined` if absent. */
export function map(value: Message | Record<string, string> | string[] | string, key?: string | number): Record<string, string> | undefined;
/** `value[key]` (or `value`) read as an STT list of strings; `undefined` if absent. */
export function list(value: Message | Record<string, string> | string[] | string, key?: string | number): string[] | undefined;
/** The frame a decoded message came in. */
export function frameOf(message: Message): Frame | undefined;

/** A value `encode` takes. */
export type Value = string | number | bigint | Value[] | { [key: string]: Value } | Map<string, Value>;

/**
 * One frame carrying `message`; nested objects become STT maps, arrays lists.
 * Throws a `TypeError` for other values, an `EncodeError` for a NUL.
 */
export function encode(
  message: { [key: string]: Value } | Map<string, Value> | [string, Value][] | Message,
  direction?: 'client' | 'server' | number,
): Uint8Array;

export interface ClientOptions {
  /** Milliseconds of a monotonic clock (default `performance.now()`). */
  now?: number;
  /** Nickname to ask for. */
  username?: string;
  /** Milliseconds between heartbeats (default 45000). */
  heartbeat?: number;
  /** The largest frame accepted (default 64 KiB). */
  maxFrame?: number;
  /** Log in as the web player does (the WebSocket endpoints' login), with this visitor id. */
  webUid?: number;
}

export type ClientEvent =
  | { kind: 'loggedIn'; message: Message }
  | { kind: 'message'; message: Message }
  | { kind: 'joined'; room: number }
  | { kind: 'serverError'; code: number | null }
  | { kind: 'dead'; silentFor: number }
  | {
      kind: 'closed';
      reason: 'logout' | 'silent' | 'serverError' | 'refused' | 'protocol' | 'local' | 'disconnected';
      message: string;
      code?: number | null;
      silentFor?: number;
      error?: DouyuError;
    };

/** The client session over one connection (sans-IO). Times in milliseconds. */
export class Client {
  constructor(room: number | bigint | string, options?: ClientOptions);
  /** Bytes from the server; empty bytes when the server closed. */
  receiveData(bytes: Bytes, now?: number): void;
  /** Bytes to send to the server (empty when there are none). */
  dataToSend(): Uint8Array;
  /** The next event, or `null`; throws a `DecodeError` for unreadable input. */
  nextEvent(): ClientEvent | null;
  /** When `handleTimeout` must next be called, or `null` once closed. */
  timeout(): number | null;
  handleTimeout(now?: number): void;
  queueChat(text: string): void;
  requestWho(): void;
  /** Starts a clean logout. */
  close(): void;
  readonly room: number;
  readonly isClosed: boolean;
  free(): void;
}

/** A WebSocket constructor with the standard API (browsers, Node >= 22, npm `ws`). */
export type WebSocketConstructor = new (url: string) => {
  binaryType: string;
  readyState: number;
  send(data: Uint8Array): void;
  close(): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
};

export interface WatchOptions extends Omit<ClientOptions, 'now'> {
  WebSocket?: WebSocketConstructor;
  /** First reconnect delay in ms (default 1000), doubled up to `maxBackoff`. */
  backoff?: number;
  maxBackoff?: number;
  signal?: AbortSignal;
  /** The session's other events (loggedIn, joined, dead, closed, …). */
  onEvent?: (event: ClientEvent) => void;
  /** Input that could not be read (the session goes on). */
  onError?: (error: DouyuError) => void;
}

/** Douyu's WebSocket endpoint. */
export const DEFAULT_URL: string;

/**
 * The messages of `room` at `url`, over WebSocket, reconnecting with
 * backoff; breaking out of the loop logs out and closes.
 */
export function watch(room: number | bigint | string, url?: string, options?: WatchOptions): AsyncGenerator<Message, void, undefined>;
