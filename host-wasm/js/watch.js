// watch(): a loop that moves bytes between a WebSocket and a Client and
// time between a timer and the Client, reconnecting with backoff. The
// session's rules (login, join, heartbeats, dead links) are the core's.

import { Client } from './api.js';

/** Douyu's WebSocket endpoint, as the web player uses it. */
export const DEFAULT_URL = 'wss://danmuproxy.douyu.com:8506';

/** Connections that end sooner than this count as failed for backoff. */
const STABLE_MS = 60_000;

/**
 * Watches `room` at `url`: an async iterator of the room's messages, over
 * the standard WebSocket API (`options.WebSocket` for another one, such as
 * npm `ws`), reconnecting with backoff. Breaking out of the loop (or
 * `options.signal` aborting) logs out and closes.
 *
 * Options: `WebSocket`, `username`, `heartbeat` (ms), `maxFrame`, `webUid`,
 * `backoff` (first delay, ms, default 1000; doubled after each connection
 * that fails or ends within a minute, up to `maxBackoff`, default 60000),
 * `signal` (an AbortSignal), `onEvent(event)` and `onError(error)` to
 * observe the session's other events and its errors.
 */
export async function* watch(room, url = DEFAULT_URL, options = {}) {
  const {
    WebSocket: Socket = globalThis.WebSocket,
    backoff = 1000,
    maxBackoff = 60_000,
    signal,
    onEvent = () => {},
    onError = () => {},
    webUid = 1_000_000_000 + Math.floor(Math.random() * 1_000_000_000),
    ...session
  } = options;
  if (typeof Socket !== 'function') {
    throw new TypeError('no WebSocket: pass options.WebSocket (npm ws on Node < 22)');
  }
  let delay = backoff;
  while (!signal?.aborted) {
    const started = performance.now();
    const link = new Link(new Socket(url), new Client(room, { ...session, webUid }), signal);
    try {
      for (;;) {
        const message = await link.next(onEvent, onError);
        if (message === null) break;
        yield message;
      }
    } finally {
      // Reached on a break in the caller's loop too: log out cleanly.
      link.close();
    }
    if (signal?.aborted) return;
    delay = performance.now() - started >= STABLE_MS ? backoff : delay;
    await sleep(delay, signal);
    delay = Math.min(delay * 2, maxBackoff);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** One connection: a WebSocket, a Client, a timer, and a queue of what happened. */
class Link {
  constructor(socket, client, signal) {
    this.socket = socket;
    this.client = client;
    this.signal = signal;
    this.inbox = [];
    this.wake = null;
    this.timer = null;
    this.ready = [];
    this.over = false;
    socket.binaryType = 'arraybuffer';
    const push = (item) => {
      this.inbox.push(item);
      this.wake?.();
    };
    socket.onopen = () => push('open');
    socket.onmessage = (e) => {
      if (typeof e.data !== 'string') push(e.data);
    };
    socket.onclose = () => push('close');
    // An error is followed by a close, which is what counts.
    socket.onerror = () => {};
    this.abort = () => push('close');
    signal?.addEventListener('abort', this.abort, { once: true });
  }

  /** The next message, or `null` once the connection is over. */
  async next(onEvent, onError) {
    for (;;) {
      if (this.ready.length > 0) return this.ready.shift();
      if (this.over) return null;
      while (this.inbox.length === 0) {
        await new Promise((resolve) => (this.wake = resolve));
        this.wake = null;
      }
      const item = this.inbox.shift();
      if (item === 'open') {
        this.flush();
      } else if (item === 'close') {
        this.client.receiveData(new Uint8Array(0));
      } else if (item === 'tick') {
        this.client.handleTimeout();
      } else {
        this.client.receiveData(new Uint8Array(item));
      }
      this.drain(onEvent, onError);
      this.flush();
      this.schedule();
    }
  }

  drain(onEvent, onError) {
    for (;;) {
      let event;
      try {
        event = this.client.nextEvent();
      } catch (error) {
        onError(error);
        continue;
      }
      if (event === null) return;
      if (event.kind === 'message') {
        this.ready.push(event.message);
      } else {
        onEvent(event);
        if (event.kind === 'closed') this.over = true;
      }
    }
  }

  flush() {
    const bytes = this.client.dataToSend();
    if (bytes.length > 0 && this.socket.readyState === 1) this.socket.send(bytes);
  }

  schedule() {
    clearTimeout(this.timer);
    const at = this.client.timeout();
    if (at === null || this.over) return;
    const ms = Math.max(0, at - performance.now());
    this.timer = setTimeout(() => {
      this.inbox.push('tick');
      this.wake?.();
    }, ms);
  }

  close() {
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.abort);
    if (!this.client.isClosed) {
      this.client.close();
      this.flush();
    }
    try {
      this.socket.close();
    } catch {
      // Closing a socket that never opened may throw; it is gone either way.
    }
    this.client.free();
  }
}
