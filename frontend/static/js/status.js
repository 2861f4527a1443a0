// The status bar: connection state, events per second, the last event id and the lag
// from a change's commit (its updated_at) to the frame that shows it.

import { formatAgo, formatAsOf, formatMs } from './format.js';

/** QUIET_MS: a live board quiet this long says how long ago it heard from the server. */
export const QUIET_MS = 5000;

const LABELS = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  offline: 'offline',
};

/** LagStats keeps the last n lag samples, in milliseconds, for percentiles. */
export class LagStats {
  constructor(n = 1000) {
    this.samples = new Float64Array(n);
    this.count = 0; // samples ever added
  }

  add(ms) {
    this.samples[this.count % this.samples.length] = ms;
    this.count++;
  }

  /** summary is {n, p50, p99, max} over the kept samples (null figures when empty). */
  summary() {
    const n = Math.min(this.count, this.samples.length);
    if (n === 0) return { n: 0, p50: null, p99: null, max: null };
    const sorted = this.samples.slice(0, n).sort();
    const at = (q) => sorted[Math.min(n - 1, Math.floor(q * n))];
    return { n, p50: at(0.5), p99: at(0.99), max: sorted[n - 1] };
  }

  clear() {
    this.count = 0;
  }
}

export class StatusView {
  /** root is the status bar; its children with data-field show the figures. */
  constructor(root) {
    this.root = root;
    this.conn = root.querySelector('[data-field="state"]');
    this.rate = root.querySelector('[data-field="rate"]');
    this.lastId = root.querySelector('[data-field="last-id"]');
    this.lag = root.querySelector('[data-field="lag"]');
    this.mode = root.querySelector('[data-field="mode"]');
    this.error = root.querySelector('[data-field="error"]');
    this.fresh = root.querySelector('[data-field="fresh"]');
  }

  /**
   * setFreshness says how current the board is: nothing while live and busy, "updated
   * N s ago" while live and quiet, and "as of <time>" whenever it is not live, so
   * numbers that are no longer moving never pass for live ones.
   */
  setFreshness(state, heardAt, now = Date.now()) {
    let text = '';
    if (heardAt > 0 && state !== 'live') text = `as of ${formatAsOf(heardAt)}`;
    else if (heardAt > 0 && now - heardAt >= QUIET_MS) text = `updated ${formatAgo(now - heardAt)} ago`;
    if (this.fresh.textContent !== text) this.fresh.textContent = text;
    const iso = heardAt > 0 ? new Date(heardAt).toISOString() : '';
    if (this.fresh.dataset.heardAt !== iso) this.fresh.dataset.heardAt = iso;
  }

  /** setState shows the connection state as a word, not just a colour, and why the
   * server refused the stream, if it did. */
  setState(state, error = '') {
    const shown = navigator.onLine === false ? 'offline' : state;
    this.root.dataset.state = shown;
    this.conn.textContent = LABELS[shown] ?? shown;
    this.error.textContent = shown === 'live' ? '' : error;
  }

  setMode(mode) {
    this.mode.textContent = mode === 'shared' ? 'shared stream' : 'own stream';
    this.mode.title =
      mode === 'shared'
        ? 'All tabs of this board share one connection'
        : 'This tab has its own connection';
  }

  setLastId(id) {
    const text = id ? `#${id}` : '\u2014';
    if (this.lastId.textContent !== text) this.lastId.textContent = text;
  }

  /** setFigures shows the rate and lag; the lag figures also go in data attributes. */
  setFigures(perSecond, lag) {
    this.rate.textContent = `${perSecond} ev/s`;
    this.lag.textContent = `p50 ${formatMs(lag.p50)} \u00B7 p99 ${formatMs(lag.p99)}`;
    this.lag.dataset.p50 = lag.p50 == null ? '' : lag.p50.toFixed(1);
    this.lag.dataset.p99 = lag.p99 == null ? '' : lag.p99.toFixed(1);
    this.lag.dataset.n = String(lag.n);
  }
}
