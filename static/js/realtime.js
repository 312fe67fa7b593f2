/**
 * Live events for the chat page: one event stream per browser, shared by all of the
 * user's tabs.
 *
 * Browsers allow about six HTTP/1.1 connections per host, so a stream in every tab
 * would hang the seventh tab. The tabs therefore elect one leader with the Web Locks
 * API; the leader holds the only EventSource and relays every event to the other tabs
 * over a BroadcastChannel. When the leader tab closes, its lock passes to another tab,
 * which resumes the stream from the last event id any tab saw.
 *
 * The leader reconnects after a failure with exponential back-off and jitter, so a
 * server restart is not met by every browser in the same second, and resumes with
 * `lastEventId`. While the stream is down, or the server says its live fan-out is
 * down, every tab polls the history API; after any gap it reads what it missed once
 * more. A `stream-error` event is a refusal (for example, the session ended): the
 * stream is not reopened.
 *
 * The leader also sends the presence heartbeat: `online` while any of the user's tabs
 * is visible, `away` otherwise, every third of the presence time-to-live. Typing
 * notices are throttled here to one per group every few seconds.
 * @module realtime
 */

import { apiPost } from './api.js';

const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
// A stream that stayed open this long resets the back-off.
const STABLE_MS = 10000;
const POLL_MS = 5000;
/** Least time between two typing notices for one group, in milliseconds. */
export const TYPING_INTERVAL_MS = 3000;
const SERVER_EVENTS = ['stream-open', 'stream-reset', 'stream-error', 'realtime'];

/**
 * The wait before reconnect attempt number `attempt` (0 for the first): the capped
 * exponential delay, spread by jitter over its upper half.
 * @param {number} attempt
 * @param {() => number} [random] source of numbers in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function randomTabId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

class Realtime {
  constructor(options) {
    this.userId = String(options.userId);
    this.kinds = [...new Set(options.kinds)];
    this.handlers = options.handlers;
    this.onGap = options.onGap || (() => Promise.resolve());
    this.onLive = options.onLive || (() => {});
    this.ttlMs = Math.max(1, Number(options.presenceTtl) || 30) * 1000;
    this.tabId = randomTabId();
    this.tabs = new Map();
    this.typingAt = new Map();
    this.lastEventId = '';
    this.leader = false;
    this.source = null;
    this.live = false;
    this.refused = false;
    this.attempt = 0;
    this.openedAt = 0;
    this.everOpened = false;
    this.retryTimer = null;
    this.pollTimer = null;
    this.beatTimer = null;
    this.sentState = null;
    this.channel = typeof BroadcastChannel === 'function'
      ? new BroadcastChannel(`hw-live-${this.userId}`) : null;
    if (this.channel) {
      this.channel.addEventListener('message', (event) => this.fromTab(event.data));
    }
    document.addEventListener('visibilitychange', () => this.tabChanged());
    this.setLive(false);
    this.send({ type: 'hello', tab: this.tabId });
    this.elect();
    this.tabTimer = setInterval(() => this.tabChanged(), this.ttlMs / 3);
    this.tabChanged();
  }

  /* ---------- leadership ---------- */

  elect() {
    const lead = () => this.lead();
    if (navigator.locks && this.channel) {
      navigator.locks.request(`hw-live-${this.userId}`, lead).catch(() => {});
    } else {
      // Without locks or channels every tab keeps its own stream.
      lead();
    }
  }

  lead() {
    this.leader = true;
    this.send({ type: 'leader', tab: this.tabId });
    // The new stream's opening reads back what the old leader may have missed.
    this.open();
    this.beat();
    // The lock is held for the life of this page; closing the tab releases it.
    return new Promise(() => {});
  }

  send(message) {
    if (this.channel) this.channel.postMessage(message);
  }

  fromTab(message) {
    if (!message || typeof message !== 'object') return;
    if (message.type === 'event') {
      if (message.id) this.lastEventId = message.id;
      this.everOpenedElsewhere = true;
      this.dispatch(message.kind, message.data);
    } else if (message.type === 'live') {
      this.everOpenedElsewhere = true;
      this.setLive(Boolean(message.live));
    } else if (message.type === 'gap') {
      this.gap(false);
    } else if (message.type === 'refused') {
      this.refused = true;
      this.setLive(false);
    } else if (message.type === 'leader') {
      this.tabChanged();
    } else if (message.type === 'hello' && this.leader) {
      // A tab that just opened learns whether events flow.
      this.send({ type: 'live', live: this.live });
    } else if (message.type === 'tab' && this.leader) {
      this.tabs.set(message.tab, { visible: Boolean(message.visible), at: Date.now() });
      this.beatSoon();
    }
  }

  tabChanged() {
    if (this.leader) {
      this.beatSoon();
    } else {
      this.send({ type: 'tab', tab: this.tabId, visible: document.visibilityState === 'visible' });
    }
  }

  /* ---------- the stream ---------- */

  open() {
    if (this.refused) return;
    const query = this.lastEventId ? `?lastEventId=${encodeURIComponent(this.lastEventId)}` : '';
    const source = new EventSource(`/events/${query}`);
    this.source = source;
    source.addEventListener('stream-open', (event) => {
      if (event.lastEventId) this.lastEventId = event.lastEventId;
      this.openedAt = Date.now();
      // Anything sent while this browser had no stream is read back.
      if (this.everOpened || this.everOpenedElsewhere) this.gap();
      this.everOpened = true;
    });
    source.addEventListener('realtime', (event) => {
      const status = this.parse(event.data);
      const wasLive = this.live;
      this.announceLive(Boolean(status && status.live));
      if (this.live && !wasLive && this.everOpened) this.gap();
    });
    source.addEventListener('stream-reset', (event) => {
      if (event.lastEventId) this.lastEventId = event.lastEventId;
      this.gap();
    });
    source.addEventListener('stream-error', () => {
      // A refusal, not a failure: do not come back.
      this.refused = true;
      source.close();
      this.send({ type: 'refused' });
      this.announceLive(false);
    });
    for (const kind of this.kinds) {
      source.addEventListener(kind, (event) => this.relay(kind, event));
    }
    source.addEventListener('error', () => {
      if (this.refused || this.source !== source) return;
      // EventSource would retry on its own at a fixed pace; this one backs off.
      source.close();
      this.source = null;
      this.announceLive(false);
      if (Date.now() - this.openedAt > STABLE_MS) this.attempt = 0;
      const wait = backoffDelay(this.attempt);
      this.attempt += 1;
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.open(), wait);
    });
  }

  relay(kind, event) {
    if (event.lastEventId) this.lastEventId = event.lastEventId;
    this.send({ type: 'event', kind, data: event.data, id: this.lastEventId });
    this.dispatch(kind, event.data);
  }

  parse(text) {
    try {
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  dispatch(kind, text) {
    const handler = this.handlers[kind];
    const data = this.parse(text);
    if (!handler || data === null) return;
    try {
      Promise.resolve(handler(data)).catch(() => {});
    } catch {
      // One bad event must not stop the ones after it.
    }
  }

  /* ---------- live or polling ---------- */

  announceLive(live) {
    this.send({ type: 'live', live });
    this.setLive(live);
  }

  setLive(live) {
    this.live = live && !this.refused;
    this.onLive(this.live);
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    if (!this.live && !this.refused) {
      // Until events flow again, the history API is asked every few seconds.
      this.pollTimer = setInterval(() => this.gap(false), POLL_MS);
    }
  }

  gap(tellOthers = true) {
    if (tellOthers) this.send({ type: 'gap' });
    Promise.resolve(this.onGap()).catch(() => {});
  }

  /* ---------- presence and typing ---------- */

  presenceState() {
    if (document.visibilityState === 'visible') return 'online';
    const now = Date.now();
    for (const [tab, info] of this.tabs) {
      if (now - info.at > this.ttlMs) {
        this.tabs.delete(tab);
      } else if (info.visible) {
        return 'online';
      }
    }
    return 'away';
  }

  beatSoon() {
    if (this.presenceState() !== this.sentState) this.beat();
  }

  beat() {
    clearTimeout(this.beatTimer);
    this.beatTimer = setTimeout(() => this.beat(), this.ttlMs / 3);
    if (this.refused) return;
    const state = this.presenceState();
    this.sentState = state;
    apiPost('/api/presence', { state }).then((answer) => {
      // The server says how long a beat lasts; the page follows it.
      const ttlMs = Number(answer && answer.ttl) * 1000;
      if (ttlMs > 0 && ttlMs !== this.ttlMs) {
        this.ttlMs = ttlMs;
        clearInterval(this.tabTimer);
        this.tabTimer = setInterval(() => this.tabChanged(), this.ttlMs / 3);
        clearTimeout(this.beatTimer);
        this.beatTimer = setTimeout(() => this.beat(), this.ttlMs / 3);
      }
    }).catch(() => {
      // Presence waits for the server like everything else; the next beat retries.
      this.sentState = null;
    });
  }

  /**
   * Tell the group's other members that this user types; at most one notice per
   * group every TYPING_INTERVAL_MS.
   * @param {string} groupId
   * @returns {boolean} whether a notice was sent
   */
  typing(groupId) {
    const now = Date.now();
    if (now - (this.typingAt.get(groupId) || 0) < TYPING_INTERVAL_MS) return false;
    this.typingAt.set(groupId, now);
    apiPost(`/api/groups/${groupId}/typing`, {}).catch(() => {});
    return true;
  }
}

/**
 * Start live events for this tab.
 * @param {object} options
 * @param {string|number} options.userId the signed-in user's id
 * @param {string[]} options.kinds event kinds to listen for
 * @param {Object<string, function(object): (void|Promise<void>)>} options.handlers
 *   one handler per kind, given the event's parsed JSON
 * @param {function(): Promise<void>} [options.onGap] reads what may have been missed
 * @param {function(boolean): void} [options.onLive] told whether events flow live
 * @param {number} [options.presenceTtl] the server's presence time-to-live, seconds
 * @returns {{typing: function(string): boolean, isLeader: function(): boolean}}
 */
export function startRealtime(options) {
  const realtime = new Realtime(options);
  return {
    typing: (groupId) => realtime.typing(groupId),
    isLeader: () => realtime.leader,
  };
}
