// douyu overlay page: follows /events (Server-Sent Events) and shows the
// room's messages over the video.
//
// Configured entirely by the page's URL, as OBS users set a browser source
// (see the README's "Overlay for OBS" for the parameters). Every field from
// the network is inserted with textContent, never as HTML, and a message
// type becomes a class name only when it is a plain word.
'use strict';

(() => {
  const query = new URLSearchParams(location.search);

  /** An integer parameter, clamped to [min, max]; fallback if absent or not a number. */
  function int(name, fallback, min, max) {
    const value = Number.parseInt(query.get(name) ?? '', 10);
    return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
  }

  /** A number parameter (fractions allowed), clamped as int(). */
  function number(name, fallback, min, max) {
    const value = Number.parseFloat(query.get(name) ?? '');
    return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
  }

  /** A yes/no parameter: 0, false, no and off are no; anything else given is yes. */
  function flag(name, fallback) {
    const value = query.get(name);
    if (value === null) return fallback;
    return !['0', 'false', 'no', 'off'].includes(value.trim().toLowerCase());
  }

  /** A comma-separated parameter as a set of words, or null if absent or empty. */
  function words(name) {
    const value = query.get(name);
    if (value === null) return null;
    const set = new Set(value.split(',').map((w) => w.trim()).filter((w) => w !== ''));
    return set.size > 0 ? set : null;
  }

  const merge = words('merge') ?? new Set();
  const mergeAll = ['1', 'true', 'yes', 'all', 'on'].some((w) => merge.has(w));
  const theme = (query.get('theme') ?? 'dark').trim().toLowerCase();
  const config = {
    max: int('max', 50, 1, 1000),
    types: words('types'),
    minGift: number('min_gift', 0, 0, 1e12),
    mergeChat: mergeAll || merge.has('chat'),
    mergeGift: mergeAll || merge.has('gift'),
    fade: number('fade', 0, 0, 86400),
    theme: /^[a-z0-9-]{1,32}$/.test(theme) ? theme : 'dark',
    fontSize: int('font_size', 0, 6, 300),
    showLevel: flag('show_level', true),
    showBadge: flag('show_badge', true),
  };

  const root = document.documentElement;
  root.classList.add(`theme-${config.theme}`);
  if (config.fontSize > 0) root.style.setProperty('--font-size', `${config.fontSize}px`);
  root.dataset.feed = 'connecting';

  /** What the page has done, for tests and for a look in the devtools. */
  const stats = {
    received: 0, // messages from the feed
    shown: 0, // message elements created
    merged: 0, // messages folded into an earlier element
    filtered: 0, // left out by types or min_gift
    dropped: 0, // waiting messages dropped before drawing (the page fell behind)
    skipped: 0, // messages the server says this page missed (gap events)
    opens: 0, // feed connections opened
  };
  window.overlayStats = stats;
  window.overlayConfig = config;

  let box = null; // the .messages element, once the document is parsed
  const pending = []; // messages received, not yet drawn
  // Messages waiting to be drawn: much more than the page can show is
  // pointless (with merging, a few more than max still add up), and a page
  // that stalled must not grow without bound.
  const pendingLimit = Math.max(2 * config.max, 200);
  const mergeIndex = new Map(); // merge key -> element on screen

  /** A field as a string ('' if absent or not text). */
  function text(message, key) {
    const value = message[key];
    return typeof value === 'string' ? value : '';
  }

  /** A count field as a positive integer (1 if absent or unreadable). */
  function count(message, key) {
    const value = Number.parseInt(text(message, key), 10);
    return Number.isFinite(value) && value > 0 ? value : 1;
  }

  /** What one message shows: nickname, text, and what a merge adds up. */
  function describe(type, m) {
    switch (type) {
      case 'chatmsg':
        return { nn: text(m, 'nn'), txt: text(m, 'txt'), merge: config.mergeChat ? `c\u0000${text(m, 'txt')}` : null, amount: 1 };
      case 'dgb':
        return {
          nn: text(m, 'nn'),
          txt: `sent gift ${text(m, 'gfid')}`,
          merge: config.mergeGift ? `g\u0000${text(m, 'uid') || text(m, 'nn')}\u0000${text(m, 'gfid')}` : null,
          amount: count(m, 'gfcnt'),
          gift: true,
        };
      case 'uenter':
        return { nn: text(m, 'nn'), txt: 'entered the room' };
      case 'uleave':
        return { nn: text(m, 'nn'), txt: 'left the room' };
      case 'spbc':
        return { nn: text(m, 'sn'), txt: `gave ${text(m, 'dn')} ${text(m, 'gn')} ×${count(m, 'gc')}`, amount: count(m, 'gc') };
      case 'anbc':
      case 'rnewbc':
        return { nn: text(m, 'unk'), txt: `${type === 'anbc' ? 'opened' : 'renewed'} noble level ${text(m, 'nl')}` };
      case 'rss':
        return { nn: '', txt: text(m, 'ss') === '1' ? 'stream started' : 'stream stopped' };
      case 'error':
        return { nn: '', txt: `server error ${text(m, 'code')}` };
      default:
        return { nn: '', txt: type };
    }
  }

  function span(className, content) {
    const element = document.createElement('span');
    element.className = className;
    element.textContent = content;
    return element;
  }

  function setCount(element, amount) {
    let counter = element.querySelector('.count');
    if (!counter) {
      counter = span('count', '');
      element.append(counter);
    }
    counter.textContent = `×${amount}`;
  }

  function remove(element) {
    if (element.mergeKey && mergeIndex.get(element.mergeKey) === element) {
      mergeIndex.delete(element.mergeKey);
    }
    element.remove();
  }

  /** Draws one message: a new element, or a count added to a merged one. */
  function draw(message, now) {
    const type = typeof message.type === 'string' ? message.type : '';
    if (config.types && !config.types.has(type)) {
      stats.filtered++;
      return;
    }
    const view = describe(type, message);
    if ((type === 'dgb' || type === 'spbc') && view.amount < config.minGift) {
      stats.filtered++;
      return;
    }
    if (view.merge !== null && view.merge !== undefined) {
      const earlier = mergeIndex.get(view.merge);
      if (earlier && earlier.isConnected && !earlier.fading) {
        earlier.amount += view.amount;
        setCount(earlier, earlier.amount);
        earlier.classList.add('merged');
        earlier.shownAt = now;
        box.append(earlier); // to the bottom, as the newest
        stats.merged++;
        return;
      }
    }
    const element = document.createElement('div');
    element.className = 'message';
    // A type from the network is a class only when it is a plain word.
    element.classList.add(/^[A-Za-z0-9_-]{1,40}$/.test(type) ? type : 'unknown');
    const badge = text(message, 'bnn');
    if (config.showBadge && badge !== '') {
      const badgeElement = span('badge', '');
      badgeElement.append(span('badge-name', badge));
      const badgeLevel = text(message, 'bl');
      if (badgeLevel !== '') badgeElement.append(span('badge-level', badgeLevel));
      element.append(badgeElement);
    }
    const level = text(message, 'level');
    if (config.showLevel && level !== '') element.append(span('level', `LV${level}`));
    if (view.nn !== '') element.append(span('nn', view.nn));
    element.append(span('txt', view.txt));
    element.amount = view.amount ?? 1;
    if (view.gift) setCount(element, element.amount);
    element.shownAt = now;
    if (view.merge !== null && view.merge !== undefined) {
      element.mergeKey = view.merge;
      mergeIndex.set(view.merge, element);
    }
    box.append(element);
    stats.shown++;
  }

  let scheduled = false;

  /** Draws what is waiting, once per frame however many messages came. */
  function flush() {
    if (!scheduled || !box) return;
    scheduled = false;
    const now = Date.now();
    for (const message of pending) draw(message, now);
    pending.length = 0;
    while (box.childElementCount > config.max) remove(box.firstElementChild);
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(flush);
    // A hidden page gets no animation frames; draw anyway, less often.
    setTimeout(flush, 100);
  }

  function receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) return;
    stats.received++;
    pending.push(message);
    if (pending.length > pendingLimit) {
      const extra = pending.length - pendingLimit;
      pending.splice(0, extra);
      stats.dropped += extra;
    }
    schedule();
  }

  /** fade=SECONDS: messages older than that fade out, then go. */
  function fadeOld() {
    if (!box) return;
    const now = Date.now();
    const cutoff = now - config.fade * 1000;
    // Elements are in the order they were last shown: stop at the first young one.
    for (let element = box.firstElementChild; element; ) {
      const next = element.nextElementSibling;
      if (element.shownAt > cutoff) break;
      if (!element.fading) {
        element.fading = now;
        element.classList.add('fade-out');
      } else if (now - element.fading > 450) {
        remove(element);
      }
      element = next;
    }
  }

  // The feed: EventSource reconnects by itself after a network error (the
  // server sends retry: 1000); when it gives up (an HTTP error, such as 503
  // at the cap on pages) or the feed goes quiet past three heartbeats, the
  // page opens a new one, waiting longer after each failure.
  let source = null;
  let lastEvent = Date.now();
  let retryDelay = 1000;
  let retryTimer = null;

  function alive() {
    lastEvent = Date.now();
  }

  function connect() {
    retryTimer = null;
    stats.opens++;
    alive();
    source = new EventSource('/events');
    source.onopen = () => {
      root.dataset.feed = 'open';
      retryDelay = 1000;
      alive();
    };
    source.onmessage = (event) => {
      alive();
      receive(event.data);
    };
    source.addEventListener('ping', alive);
    source.addEventListener('status', (event) => {
      alive();
      try {
        root.dataset.room = JSON.parse(event.data).joined ? 'joined' : 'reconnecting';
      } catch {
        // An unreadable status changes nothing.
      }
    });
    source.addEventListener('gap', (event) => {
      alive();
      try {
        stats.skipped += Number(JSON.parse(event.data).skipped) || 0;
      } catch {
        // Nor does an unreadable gap.
      }
    });
    source.onerror = () => {
      root.dataset.feed = 'closed';
      if (source.readyState === EventSource.CLOSED) reopen();
    };
  }

  function reopen() {
    if (retryTimer !== null) return;
    if (source) source.close();
    root.dataset.feed = 'closed';
    retryTimer = setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  }

  setInterval(() => {
    if (Date.now() - lastEvent > 35000) reopen();
  }, 5000);
  if (config.fade > 0) setInterval(fadeOld, 250);

  function start() {
    box = document.getElementById('messages');
    connect();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
