// The ticker table: one row per symbol, kept in symbol order. Rows are made once and
// updated cell by cell; only a changed cell is written, and it flashes.

import { direction, element, flash, setData, setText, setTitle } from './cells.js';
import { formatChange, formatPrice, formatVolume } from './format.js';
import { createSparkline } from './sparkline.js';

const ARROWS = { up: '\u25B2', down: '\u25BC', same: '' };

export class TickerView {
  /** tbody is the table body the rows live in; board is the page's Board. */
  constructor(tbody, board) {
    this.tbody = tbody;
    this.board = board;
    this.rows = new Map(); // symbol → row
  }

  /** sync makes the table match the board: after a snapshot or a reset. */
  sync() {
    for (const symbol of [...this.rows.keys()]) {
      if (!this.board.quotes.has(symbol)) this.#remove(symbol);
    }
    for (const symbol of [...this.board.quotes.keys()].sort()) this.update(symbol, false);
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
    setText(row.pct, formatChange(q.change_pct, '%'));
    this.#number(row, 'high', q.day_high, formatPrice, animate);
    this.#number(row, 'low', q.day_low, formatPrice, animate);
    this.#number(row, 'volume', q.volume, formatVolume, false); // it only grows: no news
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
    this.#place(tr, symbol);
    this.rows.set(symbol, row);
    return row;
  }

  // place inserts tr in symbol order (a snapshot arrives sorted, so usually at the end).
  #place(tr, symbol) {
    const lastRow = this.tbody.lastElementChild;
    if (!lastRow || lastRow.dataset.symbol < symbol) {
      this.tbody.append(tr);
      return;
    }
    for (const other of this.tbody.children) {
      if (other.dataset.symbol > symbol) {
        this.tbody.insertBefore(tr, other);
        return;
      }
    }
    this.tbody.append(tr);
  }

  #remove(symbol) {
    this.rows.get(symbol)?.tr.remove();
    this.rows.delete(symbol);
  }
}
