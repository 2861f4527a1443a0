// A symbol's intraday chart: its stored prices (/api/quotes/{symbol}/history), then every
// price the stream brings, drawn as an SVG line against the day's high and low and the
// previous close. The elements are made once; a new price rewrites their attributes.

import { parseTime } from './board.js';
import { element, setText } from './cells.js';
import { formatChange, formatChangePct, formatClock, formatPrice } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const HEIGHT = 200;
const PAD = 8;
/** HISTORY is how many stored prices the chart asks for (the API's most). */
const HISTORY = 1000;
const LEVELS = ['prev_close', 'day_high', 'day_low'];
const LEVEL_NAMES = { prev_close: 'Prev close', day_high: 'High', day_low: 'Low' };

export class ChartView {
  /** root is the detail panel; apiRoot the app's root URL; board the page's Board. */
  constructor(root, apiRoot, board) {
    this.root = root;
    this.apiRoot = apiRoot;
    this.board = board;
    this.symbol = '';
    this.points = []; // [[price, ms], …] oldest first
    this.fetching = null; // AbortController of the history being read
    this.#build();
  }

  /** open shows symbol's chart: what the stream has at once, its history when it comes. */
  open(symbol) {
    this.fetching?.abort();
    this.symbol = symbol;
    this.points = (this.board.series.get(symbol) ?? []).slice();
    this.root.hidden = false;
    this.root.dataset.symbol = symbol;
    this.draw();
    const abort = new AbortController();
    this.fetching = abort;
    const url = new URL(`api/quotes/${encodeURIComponent(symbol)}/history`, this.apiRoot);
    url.searchParams.set('limit', String(HISTORY));
    fetch(url, { signal: abort.signal, headers: { Accept: 'application/json' } })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`HTTP ${res.status}`))))
      .then((history) => {
        if (this.symbol !== symbol || !Array.isArray(history)) return;
        const first = this.points.length ? this.points[0][1] : Infinity;
        const older = [];
        for (const h of history) {
          const ms = parseTime(h.ts);
          if (ms < first) older.push([Number(h.price), ms]);
        }
        this.points = older.concat(this.points);
        this.root.dataset.history = String(history.length);
        this.draw();
      })
      .catch((err) => {
        if (err.name !== 'AbortError') console.warn(`tickerboard: chart of ${symbol}:`, err.message);
      });
  }

  /** close hides the chart. */
  close() {
    this.fetching?.abort();
    this.symbol = '';
    this.points = [];
    this.root.hidden = true;
    delete this.root.dataset.symbol;
  }

  /** price takes a quote the stream just changed; only the open symbol's matter. */
  price(q) {
    if (q.symbol !== this.symbol) return false;
    if (q.deleted) {
      this.close();
      return true;
    }
    const last = this.points[this.points.length - 1];
    if (!last || last[0] !== q.price) this.points.push([q.price, parseTime(q.updated_at)]);
    if (this.points.length > 4 * HISTORY) this.points.splice(0, this.points.length - 2 * HISTORY);
    return true;
  }

  /** draw renders the open symbol's chart and figures. */
  draw() {
    const q = this.board.quotes.get(this.symbol);
    if (!q) {
      if (this.symbol) this.close(); // delisted, or gone from a new snapshot
      return;
    }
    setText(this.title, q.symbol);
    setText(this.name, q.name ?? '');
    setText(this.last, formatPrice(q.price));
    setText(this.change, `${formatChange(q.change)} (${formatChangePct(q.change_pct)})`);
    this.change.dataset.dir = q.change > 0 ? 'up' : q.change < 0 ? 'down' : 'same';
    const pts = this.points.filter(([p, ms]) => Number.isFinite(p) && Number.isFinite(ms));
    let lo = Infinity;
    let hi = -Infinity;
    for (const [p] of pts) {
      lo = Math.min(lo, p);
      hi = Math.max(hi, p);
    }
    for (const key of LEVELS) {
      const v = q[key];
      if (v != null && Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (!Number.isFinite(lo)) return;
    if (hi === lo) {
      hi += 0.5;
      lo -= 0.5;
    }
    const t0 = pts.length ? pts[0][1] : 0;
    const t1 = pts.length ? pts[pts.length - 1][1] : 1;
    const x = (ms) => (t1 > t0 ? PAD + ((WIDTH - 2 * PAD) * (ms - t0)) / (t1 - t0) : WIDTH / 2);
    const y = (p) => PAD + (HEIGHT - 2 * PAD) * (1 - (p - lo) / (hi - lo));
    this.line.setAttribute('points', pts.map(([p, ms]) => `${x(ms).toFixed(1)},${y(p).toFixed(1)}`).join(' '));
    this.svg.dataset.points = String(pts.length);
    this.svg.dataset.last = pts.length ? String(pts[pts.length - 1][0]) : '';
    for (const key of LEVELS) {
      const { rule, label } = this.levels[key];
      const v = q[key];
      const shown = v != null && Number.isFinite(v);
      rule.setAttribute('visibility', shown ? 'visible' : 'hidden');
      if (shown) {
        rule.setAttribute('y1', y(v).toFixed(1));
        rule.setAttribute('y2', y(v).toFixed(1));
      }
      setText(label, shown ? formatPrice(v) : '\u2014');
    }
    setText(this.from, pts.length ? formatClock(t0) : '');
    setText(this.to, pts.length ? formatClock(t1) : '');
  }

  #build() {
    const head = element('div', 'detail-head');
    this.title = element('h3', 'sym');
    this.name = element('span', 'name');
    this.last = element('span', 'num last');
    this.change = element('span', 'num change');
    this.closeButton = element('button', 'close', 'Close');
    this.closeButton.type = 'button';
    this.closeButton.addEventListener('click', () => this.close());
    head.append(this.title, this.name, this.last, this.change, this.closeButton);

    this.svg = document.createElementNS(SVG, 'svg');
    this.svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
    this.svg.setAttribute('preserveAspectRatio', 'none');
    this.svg.setAttribute('class', 'chart');
    this.svg.setAttribute('role', 'img');
    this.svg.setAttribute('aria-label', 'Intraday price');
    this.levels = {};
    const legend = element('dl', 'levels');
    for (const key of LEVELS) {
      const rule = document.createElementNS(SVG, 'line');
      rule.setAttribute('class', `rule ${key}`);
      rule.setAttribute('x1', '0');
      rule.setAttribute('x2', String(WIDTH));
      rule.setAttribute('vector-effect', 'non-scaling-stroke');
      this.svg.append(rule);
      const label = element('dd', `num ${key}`);
      legend.append(element('dt', key, LEVEL_NAMES[key]), label);
      this.levels[key] = { rule, label };
    }
    this.line = document.createElementNS(SVG, 'polyline');
    this.line.setAttribute('class', 'price');
    this.line.setAttribute('vector-effect', 'non-scaling-stroke');
    this.svg.append(this.line);
    const axis = element('div', 'axis');
    this.from = element('span', 'from');
    this.to = element('span', 'to');
    axis.append(this.from, this.to);
    this.root.append(head, this.svg, axis, legend);
  }
}
