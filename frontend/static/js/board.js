// The live state of one stream: quotes by symbol, games by id, the latest scoring
// plays and each symbol's recent prices. The shared worker and every page keep one
// Board each and feed it the same messages in the same order, so they agree.

/** How many prices a sparkline shows; also the history fetched per symbol. */
export const SERIES_LENGTH = 60;

/** How many of the latest plays are kept (the snapshot carries 20). */
export const PLAYS_KEPT = 20;

export class Board {
  constructor() {
    this.clear();
  }

  /** clear drops everything, as a `reset` event demands. */
  clear() {
    this.id = 0; // newest event id reflected; events at or below it are repeats
    this.loaded = false;
    this.quotes = new Map(); // symbol → quote JSON
    this.games = new Map(); // id → game JSON
    this.plays = []; // oldest first
    this.market = null; // the market row {session, day, opens_at, closes_at, updated_at}, or null
    this.series = new Map(); // symbol → [[price, ms], …] oldest first
  }

  /** load replaces the board with a snapshot {id, market, quotes, games, plays, series?}. */
  load(snap) {
    this.clear();
    this.id = snap.id;
    this.loaded = true;
    this.market = snap.market ?? null;
    for (const q of snap.quotes ?? []) this.quotes.set(q.symbol, q);
    for (const g of snap.games ?? []) this.games.set(g.id, g);
    this.plays = (snap.plays ?? []).slice(-PLAYS_KEPT);
    for (const [symbol, points] of Object.entries(snap.series ?? {})) {
      this.series.set(symbol, points);
    }
  }

  /** snapshot is the board as a snapshot message, for a page joining a running stream. */
  snapshot() {
    return {
      id: this.id,
      market: this.market,
      quotes: [...this.quotes.values()],
      games: [...this.games.values()],
      plays: this.plays,
      series: Object.fromEntries(this.series),
    };
  }

  /**
   * apply folds one event in. It returns what changed, {name, key}, or null when the
   * event is a repeat (its id is not newer than the board), so a replay after a
   * reconnect can never show a change twice.
   */
  apply(name, id, data) {
    if (!(id > this.id)) return null;
    this.id = id;
    switch (name) {
      case 'price':
        return this.#price(data);
      case 'score':
        return this.#score(data);
      case 'play':
        return this.#play(data);
      case 'market':
        this.market = data; // null: the row was deleted
        return { name: 'market', key: '' };
      default:
        return { name, key: null };
    }
  }

  #price(q) {
    if (q.deleted) {
      this.quotes.delete(q.symbol);
      this.series.delete(q.symbol);
      return { name: 'price', key: q.symbol };
    }
    this.quotes.set(q.symbol, q);
    const points = this.series.get(q.symbol) ?? [];
    const last = points[points.length - 1];
    // Like price_ticks, the series records only changes of price.
    if (!last || last[0] !== q.price) {
      points.push([q.price, parseTime(q.updated_at)]);
      if (points.length > SERIES_LENGTH) points.splice(0, points.length - SERIES_LENGTH);
    }
    this.series.set(q.symbol, points);
    return { name: 'price', key: q.symbol };
  }

  #score(g) {
    if (g.deleted) {
      this.games.delete(g.id);
      this.plays = this.plays.filter((p) => p.game_id !== g.id);
      return { name: 'score', key: g.id };
    }
    this.games.set(g.id, g);
    return { name: 'score', key: g.id };
  }

  #play(p) {
    const at = this.plays.findIndex((x) => x.id === p.id);
    if (p.deleted) {
      if (at >= 0) this.plays.splice(at, 1);
    } else if (at < 0) {
      this.plays.push(p);
      if (this.plays.length > PLAYS_KEPT) this.plays.splice(0, this.plays.length - PLAYS_KEPT);
    }
    return { name: 'play', key: p.id };
  }

  /**
   * mergeHistory puts a symbol's stored prices ([{price, ts}], oldest first) in front
   * of the prices seen live. Live points are the newer truth; a stored tick at or after
   * the first live one is the same tick and is skipped.
   */
  mergeHistory(symbol, history) {
    if (!this.quotes.has(symbol)) return false;
    const live = this.series.get(symbol) ?? [];
    const first = live.length ? live[0][1] : Infinity;
    const older = [];
    for (const h of history) {
      const ms = parseTime(h.ts);
      if (ms < first) older.push([Number(h.price), ms]);
    }
    this.series.set(symbol, older.concat(live).slice(-SERIES_LENGTH));
    return true;
  }
}

const timeFormat = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d(?::?\d\d)?)?$/;

/**
 * parseTime reads an RFC 3339 timestamp as milliseconds since the epoch, keeping the
 * microseconds Postgres writes (Date.parse is only specified for milliseconds).
 */
export function parseTime(s) {
  if (typeof s !== 'string') return NaN;
  const m = timeFormat.exec(s);
  if (!m) return Date.parse(s);
  let zone = m[3] ?? 'Z';
  if (/^[+-]\d\d$/.test(zone)) zone += ':00';
  const whole = Date.parse(m[1] + zone);
  const fraction = m[2] ? Number('0.' + m[2]) * 1000 : 0;
  return whole + fraction;
}
