// Feed owns one EventSource and the Board it builds. It runs in the shared worker
// (one per stream URL, shared by every tab) or, where SharedWorker is missing, in the
// page itself. Subscribers get plain messages:
//
//   {type: 'status', state, url, error} connecting | live | reconnecting | offline;
//                                       error says why the server refused the stream
//                                       or why it makes us wait ("Server busy — …")
//   {type: 'snapshot', snapshot}        the whole board; replaces what came before
//                                       (the server sends it in parts; this is all of them)
//   {type: 'reset', reason}             drop the board; a snapshot follows
//   {type: 'event', name, id, data}     one price/score/play event, data as JSON text
//                                       (in the page, also value: data parsed)
//   {type: 'history', symbol, points}   stored prices for a symbol's sparkline
//   {type: 'heartbeat', time, head}     the server is there: its clock and newest id
//
// A stream can die without an error: a laptop sleeps, a NAT forgets the flow, a proxy
// drops it without a FIN. The browser then waits forever on a socket nothing arrives on.
// The server never stays quiet longer than its heartbeat interval, so a stream silent for
// SILENCE_BEATS of those is dead; the feed says so and opens a new one.

import { Board, SERIES_LENGTH } from './board.js';

const EVENTS = ['price', 'score', 'play', 'market'];
const HISTORY_FETCHES = 4; // in flight at once, well under the browser's 6 per origin
const REOPEN_MIN_MS = 1000;
const REOPEN_MAX_MS = 15000;
const HEARTBEAT_MS = 15000; // the server's default (-heartbeat), until one is measured
const SILENCE_BEATS = 2.5; // a stream this many heartbeat intervals silent is dead
const SILENCE_MIN_MS = 2000; // never less: a snapshot may take a moment to arrive
const WATCH_MS = 250; // how often silence is checked

export class Feed {
  /** url is the absolute stream URL, filters included. */
  constructor(url) {
    this.url = url;
    this.board = new Board();
    this.state = 'connecting';
    this.error = '';
    this.subscribers = new Set();
    this.es = null;
    this.reopenTimer = 0;
    this.reopenDelay = REOPEN_MIN_MS;
    this.generation = 0; // bumped on every snapshot so stale history is dropped
    this.pending = null; // a snapshot whose parts are still arriving
    this.lastMessageAt = 0; // Date.now() of the last event or heartbeat
    this.openedAt = 0; // Date.now() when the current EventSource was made
    this.heartbeatMs = HEARTBEAT_MS; // the server's interval, as last measured
    this.silentReopens = 0; // streams dropped for silence
    this.watchTimer = 0;
    this.historyQueue = [];
    this.historyWanted = new Set();
    this.historyActive = 0;
  }

  /** subscribe adds fn; a late joiner is brought up to date first. */
  subscribe(fn) {
    this.subscribers.add(fn);
    fn(this.#status());
    if (this.board.loaded) fn({ type: 'snapshot', snapshot: this.board.snapshot() });
    return fn;
  }

  unsubscribe(fn) {
    this.subscribers.delete(fn);
  }

  /** start opens the stream. The browser reconnects by itself from then on. */
  start() {
    if (this.es) return;
    this.#open(this.url);
  }

  /**
   * wake retries a refused stream now rather than at its next backoff: a new tab may
   * come with what was missing (a token cookie, a restarted server).
   */
  wake() {
    if (this.es?.readyState !== EventSource.CLOSED) return;
    this.reopenDelay = REOPEN_MIN_MS;
    this.#reopen();
  }

  /** stop closes the stream for good (the last subscriber left). */
  stop() {
    clearTimeout(this.reopenTimer);
    clearInterval(this.watchTimer);
    this.watchTimer = 0;
    this.es?.close();
    this.es = null;
    this.generation++;
  }

  #emit(msg) {
    for (const fn of this.subscribers) fn(msg);
  }

  /** silenceMs is how long a stream may say nothing before it counts as dead. */
  silenceMs() {
    return Math.max(SILENCE_MIN_MS, SILENCE_BEATS * this.heartbeatMs);
  }

  #open(url) {
    const es = new EventSource(url);
    this.es = es;
    this.openedAt = Date.now();
    if (!this.watchTimer) this.watchTimer = setInterval(() => this.#watch(), WATCH_MS);
    es.addEventListener('open', () => {
      // Without a board the error stays until the server sends one: a full server
      // opens the stream only to say why it makes us wait.
      this.reopenDelay = REOPEN_MIN_MS;
      this.pending = null;
      // The browser's own reconnects open here too: the quiet before this connection
      // is an outage, not a heartbeat interval.
      this.openedAt = Date.now();
      if (this.board.loaded) this.error = '';
      this.#setState('live');
    });
    // Never close on error: while readyState is CONNECTING the browser is already
    // retrying (after the server's retry: hint) and will send Last-Event-ID.
    es.addEventListener('error', () => {
      this.pending = null; // the parts of a snapshot are sent again after a reconnect
      if (es.readyState === EventSource.CLOSED) {
        this.#setState('offline');
        this.#diagnose(es.url).finally(() => this.#scheduleReopen());
      } else {
        this.#setState('reconnecting');
      }
    });
    es.addEventListener('snapshot', (e) => this.#snapshot(e));
    es.addEventListener('reset', (e) => this.#reset(e));
    es.addEventListener('unavailable', (e) => this.#unavailable(e));
    es.addEventListener('heartbeat', (e) => this.#heartbeat(e));
    for (const name of EVENTS) es.addEventListener(name, (e) => this.#event(name, e));
  }

  // The browser gives up (readyState CLOSED) on an HTTP error or a wrong content type,
  // e.g. a 503 from a proxy while the server restarts. Open a new stream that resumes
  // where this one stopped; ?lastEventId= stands in for the header a new EventSource
  // cannot send.
  #scheduleReopen() {
    clearTimeout(this.reopenTimer);
    const delay = this.reopenDelay * (0.75 + Math.random() / 2);
    this.reopenDelay = Math.min(this.reopenDelay * 2, REOPEN_MAX_MS);
    this.reopenTimer = setTimeout(() => this.#reopen(), delay);
  }

  // watch drops a stream that has been silent too long, connected or still trying (a
  // request into a dead path hangs too). This is the one place the feed closes an
  // EventSource that has not failed: on a half-open socket the browser never sees an
  // error, so it would never reconnect by itself. The new stream resumes after the
  // board's id (?lastEventId=), so nothing is lost or shown twice.
  #watch() {
    const es = this.es;
    if (!es || es.readyState === EventSource.CLOSED) return; // a reopen is already due
    const silent = Date.now() - Math.max(this.lastMessageAt, this.openedAt);
    if (silent < this.silenceMs()) return;
    es.close();
    this.pending = null;
    this.silentReopens++;
    this.error = `No data for ${Math.round(silent / 1000)} s \u2014 reconnecting`;
    this.#setState('reconnecting');
    this.#reopen();
  }

  #reopen() {
    clearTimeout(this.reopenTimer);
    if (this.es?.readyState !== EventSource.CLOSED) return;
    let url = this.url;
    if (this.board.loaded) {
      const u = new URL(this.url);
      u.searchParams.set('lastEventId', String(this.board.id));
      url = u.href;
    }
    this.#open(url);
  }

  // diagnose asks the server why it refused the stream (EventSource cannot say): the
  // JSON error of a 4xx, such as a missing token, is worth showing. A refusal that
  // retrying will not fix slows the retries down to the slowest.
  async #diagnose(url) {
    const abort = new AbortController();
    try {
      const res = await fetch(url, { signal: abort.signal, headers: { Accept: 'text/event-stream' } });
      if (res.ok) return; // it would take us now
      let message = `HTTP ${res.status}`;
      try {
        message = (await res.json()).error || message;
      } catch {
        // not our JSON; the status will do
      }
      this.error = message;
      if (res.status >= 400 && res.status < 500 && res.status !== 429) this.reopenDelay = REOPEN_MAX_MS;
      this.#emit(this.#status());
    } catch {
      this.error = 'server unreachable';
      this.#emit(this.#status());
    } finally {
      abort.abort();
    }
  }

  #setState(state) {
    this.state = state;
    this.#emit(this.#status());
  }

  #status() {
    return { type: 'status', state: this.#visibleState(), url: this.url, error: this.error };
  }

  // "live" means the board is current, not just that a socket is open.
  #visibleState() {
    if (this.state === 'live' && !this.board.loaded) return 'connecting';
    return this.state;
  }

  // A snapshot comes in parts {id, part, parts, quotes, games, plays}, part 1 with the
  // market row (or null) too: part 1 starts a
  // pending board, the rows of each part are added in order, and the board is replaced
  // when the last part arrives (only it carries the event id). A part out of order, a
  // reset or a reconnect drops what is pending; the server sends the snapshot again.
  #snapshot(e) {
    this.#heard();
    let part;
    try {
      part = JSON.parse(e.data);
    } catch (err) {
      this.pending = null;
      console.error('tickerboard: unreadable snapshot', err);
      return;
    }
    const i = part.part ?? 1;
    const n = part.parts ?? 1;
    if (i === 1) this.pending = { id: part.id, parts: n, next: 1, market: part.market ?? null, quotes: [], games: [], plays: [] };
    const p = this.pending;
    if (!p || p.id !== part.id || p.parts !== n || p.next !== i) {
      this.pending = null;
      console.warn(`tickerboard: snapshot part ${i} of ${n} out of order; waiting for the next snapshot`);
      return;
    }
    for (const kind of ['quotes', 'games', 'plays']) {
      for (const row of part[kind] ?? []) p[kind].push(row);
    }
    p.next++;
    if (i < n) return;
    this.pending = null;
    this.#load({ id: p.id, market: p.market, quotes: p.quotes, games: p.games, plays: p.plays });
  }

  #load(snap) {
    const wasLoaded = this.board.loaded;
    this.board.load(snap);
    this.generation++;
    this.historyQueue = [];
    this.historyWanted.clear();
    this.#emit({ type: 'snapshot', snapshot: this.board.snapshot() });
    if (!wasLoaded && this.state === 'live') this.#setState('live');
    for (const symbol of this.board.quotes.keys()) this.#wantHistory(symbol);
  }

  // unavailable: the server is full and will close the stream; the browser reconnects
  // by itself after the retry it set. Say why the board waits.
  #unavailable(e) {
    this.lastMessageAt = Date.now();
    let info = {};
    try {
      info = JSON.parse(e.data) ?? {};
    } catch {
      // still unavailable, whatever the body says
    }
    const seconds = Math.max(1, Math.round((Number(info.retry_ms) || 2000) / 1000));
    const who = info.limit === 'per-address' ? 'Too many streams from this address' : 'Server busy';
    this.error = `${who} \u2014 retrying in ${seconds} s`;
    this.#emit(this.#status());
  }

  // heartbeat: the server is there. The server sends one only after a heartbeat interval
  // with nothing else to send, so the quiet before one, within a stream, measures the
  // interval (whatever -heartbeat the server runs with).
  #heartbeat(e) {
    const now = Date.now();
    if (this.lastMessageAt >= this.openedAt && now - this.lastMessageAt >= 100) {
      this.heartbeatMs = Math.min(now - this.lastMessageAt, 10 * HEARTBEAT_MS);
    }
    let beat = {};
    try {
      beat = JSON.parse(e.data) ?? {};
    } catch {
      // a heartbeat is a heartbeat whatever its body says
    }
    // The server says its interval; a measured one stands in for servers that do not.
    const said = Number(beat.interval_ms);
    if (Number.isFinite(said) && said >= 100 && said <= 10 * HEARTBEAT_MS) this.heartbeatMs = said;
    this.#heard();
    this.#emit({ type: 'heartbeat', time: String(beat.time ?? ''), head: Number(beat.head) || 0 });
  }

  // heard records when the server last said anything, heartbeats included; a stream
  // that serves us clears the reason we were kept waiting.
  #heard() {
    this.lastMessageAt = Date.now();
    if (this.error) {
      this.error = '';
      this.#emit(this.#status());
    }
  }

  #reset(e) {
    this.#heard();
    this.pending = null;
    let reason = '';
    try {
      reason = JSON.parse(e.data).reason ?? '';
    } catch {
      // a reset is a reset whatever its body says
    }
    this.board.clear();
    this.generation++;
    this.#emit({ type: 'reset', reason });
  }

  #event(name, e) {
    this.#heard();
    const id = Number(e.lastEventId);
    if (!this.board.loaded || !(id > this.board.id)) return; // before a snapshot, or a repeat
    let data;
    try {
      data = JSON.parse(e.data);
    } catch (err) {
      console.error(`tickerboard: unreadable ${name} event ${id}`, err);
      return;
    }
    const change = this.board.apply(name, id, data);
    if (!change) return;
    this.#emit({ type: 'event', name, id, data: e.data, value: data });
    if (name === 'price') {
      if (data.deleted) this.historyWanted.delete(data.symbol); // a new listing starts afresh
      else this.#wantHistory(data.symbol);
    }
  }

  #wantHistory(symbol) {
    if (this.historyWanted.has(symbol)) return;
    this.historyWanted.add(symbol);
    this.historyQueue.push(symbol);
    this.#pumpHistory();
  }

  #pumpHistory() {
    while (this.historyActive < HISTORY_FETCHES && this.historyQueue.length) {
      const symbol = this.historyQueue.shift();
      const generation = this.generation;
      this.historyActive++;
      fetchHistory(this.url, symbol)
        .then((points) => {
          if (generation !== this.generation || !points) return;
          if (this.board.mergeHistory(symbol, points)) {
            this.#emit({ type: 'history', symbol, points });
          }
        })
        .catch((err) => console.warn(`tickerboard: history of ${symbol}:`, err.message))
        .finally(() => {
          this.historyActive--;
          this.#pumpHistory();
        });
    }
  }
}

// fetchHistory reads a symbol's stored prices, or null when the quote is gone.
async function fetchHistory(streamURL, symbol) {
  const url = new URL(`api/quotes/${encodeURIComponent(symbol)}/history`, baseOf(streamURL));
  url.searchParams.set('limit', String(SERIES_LENGTH));
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET ${url.pathname}: HTTP ${res.status}`);
  return res.json();
}

// baseOf is the app's root URL: the stream is at <root>events.
function baseOf(streamURL) {
  const u = new URL(streamURL);
  u.search = '';
  return new URL('./', u).href;
}
