// The ticker table: one row per symbol, in the order the viewer chose (a column, up or
// down, or the top movers). Rows are made once and updated cell by cell; only a changed
// cell is written, and it flashes. Rows are moved only when the order changes, and at
// most once a RESORT_MS while prices move, so a sorted table stays readable.

import { direction, element, flash, setData, setText, setTitle } from './cells.js';
import { formatChange, formatChangePct, formatPrice, formatShares, formatVolume } from './format.js';
import { createSparkline } from './sparkline.js';

const ARROWS = { up: '\u25B2', down: '\u25BC', same: '' };
const TEXT_KEYS = new Set(['symbol', 'name']);
/** MOVERS is how many rows the top movers view shows. */
export const MOVERS = 10;
const RESORT_MS = 1000;

export class TickerView {
  /** tbody is the table body the rows live in; board is the page's Board. */
  constructor(tbody, board) {
    this.tbody = tbody;
    this.board = board;
    this.rows = new Map(); // symbol → row
    this.sort = { key: 'symbol', dir: 1 }; // dir 1 ascending, -1 descending
    this.movers = false;
    this.orderStale = false; // rows came or went, or the order was changed: sort now
    this.valuesMoved = false; // a sorted-by value changed: sort within RESORT_MS
    this.sortedAt = -Infinity;
  }

  /**
   * sortBy orders the table by a column (a quote field): a second click on the same
   * column turns the order round. Text starts A→Z, numbers largest first.
   */
  sortBy(key) {
    if (this.sort.key === key) this.sort = { key, dir: -this.sort.dir };
    else this.sort = { key, dir: TEXT_KEYS.has(key) ? 1 : -1 };
    this.movers = false;
    this.orderStale = true;
  }

  /** showMovers switches the top movers view (largest change %, either way) on or off. */
  showMovers(on) {
    this.movers = on;
    this.orderStale = true;
  }

  /** sync makes the table match the board: after a snapshot or a reset. */
  sync() {
    for (const symbol of [...this.rows.keys()]) {
      if (!this.board.quotes.has(symbol)) this.#remove(symbol);
    }
    for (const symbol of this.board.quotes.keys()) this.update(symbol, false);
    this.reorder();
  }

  /**
   * reorder puts the rows in the chosen order, moving only those out of place: at once
   * after rows came or went or the order changed, else at most once a RESORT_MS.
   */
  reorder(now = performance.now()) {
    if (!this.orderStale && !(this.valuesMoved && now - this.sortedAt >= RESORT_MS)) return;
    this.orderStale = false;
    this.valuesMoved = false;
    this.sortedAt = now;
    const symbols = [...this.rows.keys()].sort(this.#comparator());
    const children = this.tbody.children;
    symbols.forEach((symbol, i) => {
      const tr = this.rows.get(symbol).tr;
      if (children[i] !== tr) this.tbody.insertBefore(tr, children[i] ?? null);
      const hidden = this.movers && i >= MOVERS;
      if (tr.hidden !== hidden) tr.hidden = hidden;
    });
  }

  #comparator() {
    const quotes = this.board.quotes;
    const bySymbol = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
    if (this.movers) {
      const size = (s) => Math.abs(numeric(quotes.get(s)?.change_pct));
      return (a, b) => rank(size(a), size(b), -1) || bySymbol(a, b);
    }
    const { key, dir } = this.sort;
    if (key === 'symbol') return (a, b) => dir * bySymbol(a, b);
    if (TEXT_KEYS.has(key)) {
      const collator = new Intl.Collator(undefined, { sensitivity: 'base' });
      const text = (s) => String(quotes.get(s)?.[key] ?? '');
      return (a, b) => dir * collator.compare(text(a), text(b)) || bySymbol(a, b);
    }
    const value = (s) => numeric(quotes.get(s)?.[key]);
    return (a, b) => rank(value(a), value(b), dir) || bySymbol(a, b);
  }

  /** update renders one symbol's row; animate is false when loading a snapshot. */
  update(symbol, animate = true) {
    const q = this.board.quotes.get(symbol);
    if (!q) {
      this.#remove(symbol);
      return;
    }
    let row = this.rows.get(symbol);
    if (!row) {
      row = this.#create(symbol);
      animate = false;
      this.orderStale = true;
    } else if (this.movers || this.sort.key !== 'symbol') {
      this.valuesMoved = true;
    }
    setText(row.name, q.name ?? '');
    setTitle(row.tr, q.name ?? '');
    const dir = direction(row.last.price, q.price);
    if (setText(row.priceText, formatPrice(q.price)) && animate) {
      flash(row.price, dir);
      row.price.dataset.dir = dir; // the last tick's direction, in colour and arrow
      row.arrow.textContent = ARROWS[dir];
    }
    row.last.price = q.price;
    const sign = q.change > 0 ? 'up' : q.change < 0 ? 'down' : 'same';
    setData(row.change, 'dir', sign);
    setData(row.pct, 'dir', sign);
    setText(row.change, formatChange(q.change));
    setText(row.pct, formatChangePct(q.change_pct));
    this.#number(row, 'high', q.day_high, formatPrice, animate);
    this.#number(row, 'low', q.day_low, formatPrice, animate);
    this.#number(row, 'volume', q.volume, formatVolume, false); // it only grows: no news
    setTitle(row.volume, formatShares(q.volume));
    row.spark.draw(this.board.series.get(symbol));
  }

  /** redrawSpark draws a symbol's sparkline alone, when its history arrives. */
  redrawSpark(symbol) {
    this.rows.get(symbol)?.spark.draw(this.board.series.get(symbol));
  }

  // number writes a numeric cell; a change flashes up or down.
  #number(row, cell, value, format, animate) {
    const before = row.last[cell];
    row.last[cell] = value;
    if (setText(row[cell], format(value)) && animate) flash(row[cell], direction(before, value));
  }

  #create(symbol) {
    const tr = element('tr');
    tr.dataset.symbol = symbol;
    tr.tabIndex = 0; // a row opens its chart, by keyboard too
    const sym = element('th', 'sym', symbol);
    sym.scope = 'row';
    const name = element('td', 'name col-name');
    const price = element('td', 'num price');
    const priceText = element('span', 'v');
    const arrow = element('span', 'arrow');
    arrow.setAttribute('aria-hidden', 'true');
    price.append(priceText, arrow);
    const change = element('td', 'num change');
    const pct = element('td', 'num pct');
    const high = element('td', 'num high col-range');
    const low = element('td', 'num low col-range');
    const volume = element('td', 'num volume col-volume');
    const sparkCell = element('td', 'trend');
    const spark = createSparkline();
    sparkCell.append(spark.el);
    tr.append(sym, name, price, change, pct, high, low, volume, sparkCell);
    const row = { tr, name, price, priceText, arrow, change, pct, high, low, volume, spark, last: {} };
    this.tbody.append(tr); // reorder puts it in its place
    this.rows.set(symbol, row);
    return row;
  }

  #remove(symbol) {
    this.rows.get(symbol)?.tr.remove();
    this.rows.delete(symbol);
    this.orderStale = true;
  }
}

// numeric reads a quote's number, missing (null) as NaN rather than 0.
function numeric(v) {
  return v == null ? NaN : Number(v);
}

// rank compares two numbers in direction dir (1 ascending, -1 descending), with
// missing ones (NaN) last either way.
function rank(a, b, dir) {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return dir * (a - b);
}
