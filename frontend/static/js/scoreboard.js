// The scoreboard (games grouped live / scheduled / final) and the latest plays. Game
// rows are made once, moved between groups when their status changes, and updated cell
// by cell; a score that changes flashes.

import { parseTime } from './board.js';
import { direction, element, flash, setData, setText, setTitle } from './cells.js';
import { abbreviate, formatClock, formatFinal, formatGameTime, formatStart, isOvertime } from './format.js';

const GROUPS = ['live', 'scheduled', 'final'];

export class ScoreboardView {
  /** groups maps live/scheduled/final to their tbody; plays is the <ol> of plays. */
  constructor(groups, plays, board) {
    this.groups = groups;
    this.playsList = plays;
    this.board = board;
    this.rows = new Map(); // game id → row
    this.playItems = new Map(); // play id → li
  }

  /** sync makes the scoreboard match the board: after a snapshot or a reset. */
  sync() {
    for (const id of [...this.rows.keys()]) {
      if (!this.board.games.has(id)) this.#remove(id);
    }
    for (const id of this.board.games.keys()) this.update(id, false);
    this.#showGroups();
    this.renderPlays(false);
  }

  /** update renders one game; animate is false when loading a snapshot. */
  update(id, animate = true) {
    const g = this.board.games.get(id);
    if (!g) {
      this.#remove(id);
      this.#showGroups();
      return;
    }
    let row = this.rows.get(id);
    if (!row) {
      row = this.#create(id);
      animate = false;
    }
    setText(row.league, g.league);
    setText(row.away, g.away_team);
    setText(row.home, g.home_team);
    setTitle(row.away, g.away_team);
    setTitle(row.home, g.home_team);
    setData(row.away, 'abbr', abbreviate(g.away_team)); // shown instead on narrow screens
    setData(row.home, 'abbr', abbreviate(g.home_team));
    this.#score(row, 'awayScore', g.away_score, animate);
    this.#score(row, 'homeScore', g.home_score, animate);
    const status = GROUPS.includes(g.status) ? g.status : 'live';
    setData(row.tr, 'ot', String(isOvertime(g.league, g.period)));
    if (status === 'final') {
      setText(row.time, formatFinal(g.league, g.period));
    } else if (status === 'scheduled') {
      setText(row.time, formatStart(parseTime(g.starts_at)));
    } else {
      setText(row.time, formatGameTime(g.league, g.period, g.clock));
    }
    const order = status === 'scheduled' ? [parseTime(g.starts_at) || Infinity, g.id] : [g.id];
    if (row.status !== status || String(row.order) !== String(order)) {
      row.status = status;
      row.order = order;
      row.tr.dataset.status = status;
      this.#place(row);
      this.#showGroups();
    }
  }

  /** renderPlays makes the plays list match the board, newest first. */
  renderPlays(animate = true) {
    const keep = new Set(this.board.plays.map((p) => p.id));
    for (const [id, li] of this.playItems) {
      if (!keep.has(id)) {
        li.remove();
        this.playItems.delete(id);
      }
    }
    let next = this.playsList.firstElementChild;
    for (let i = this.board.plays.length - 1; i >= 0; i--) {
      const p = this.board.plays[i];
      let li = this.playItems.get(p.id);
      if (!li) {
        li = this.#playItem(p);
        if (animate) li.classList.add('new');
        this.playItems.set(p.id, li);
      }
      this.#playTeam(li, p);
      // The play that just happened stands out until the next one.
      li.classList.toggle('latest', i === this.board.plays.length - 1);
      if (li !== next) this.playsList.insertBefore(li, next);
      next = li.nextElementSibling;
    }
    this.playsList.parentElement.dataset.empty = String(this.board.plays.length === 0);
  }

  #score(row, cell, value, animate) {
    const before = row.last[cell];
    row.last[cell] = value;
    if (setText(row[cell], String(value ?? 0)) && animate) flash(row[cell], direction(before, value));
  }

  #create(id) {
    const tr = element('tr');
    tr.dataset.game = String(id);
    tr.tabIndex = 0; // a game opens its scores by period, by keyboard too
    const away = element('th', 'team away text');
    away.scope = 'row';
    const awayScore = element('td', 'num score away-score');
    const homeScore = element('td', 'num score home-score');
    const home = element('td', 'team home text');
    // The league shares the last cell, under the time, to leave the teams room.
    const when = element('td', 'when');
    const time = element('span', 'time');
    const league = element('span', 'league text');
    when.append(time, ' ', league);
    tr.append(away, awayScore, homeScore, home, when);
    const row = { tr, league, away, awayScore, homeScore, home, time, status: '', order: [], last: {} };
    this.rows.set(id, row);
    return row;
  }

  // place moves the row into its group, in order.
  #place(row) {
    const tbody = this.groups[row.status];
    for (const other of tbody.querySelectorAll('tr[data-game]')) {
      if (other === row.tr) continue;
      const o = this.rows.get(Number(other.dataset.game));
      if (o && compare(row.order, o.order) < 0) {
        tbody.insertBefore(row.tr, other);
        return;
      }
    }
    tbody.append(row.tr);
  }

  #showGroups() {
    for (const [name, tbody] of Object.entries(this.groups)) {
      tbody.hidden = !tbody.querySelector('tr[data-game]');
      tbody.dataset.group = name;
    }
  }

  #remove(id) {
    this.rows.get(id)?.tr.remove();
    this.rows.delete(id);
  }

  #playItem(p) {
    const li = element('li');
    li.dataset.play = String(p.id);
    li.dataset.game = String(p.game_id);
    const at = parseTime(p.created_at);
    const time = element('time', 'at', formatClock(at));
    if (Number.isFinite(at)) time.dateTime = new Date(at).toISOString();
    const team = element('span', 'team text');
    const points = element('span', 'points', `+${p.points}`);
    const scorer = element('span', 'scorer text', p.scorer ?? '');
    const when = element('span', 'when');
    li.append(time, team, points, scorer, when);
    return li;
  }

  // The team's name and the period come from the game, which may change or arrive later.
  #playTeam(li, p) {
    const g = this.board.games.get(p.game_id);
    const [team, points, , when] = li.children.length === 5 ? [...li.children].slice(1) : [];
    const name = g ? (p.team === 'home' ? g.home_team : g.away_team) : `Game ${p.game_id} ${p.team}`;
    setText(team, name);
    setText(points, `+${p.points}`);
    setText(when, formatGameTime(g?.league ?? '', p.period, p.clock));
  }
}

function compare(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0) ? -1 : 1;
  }
  return 0;
}
