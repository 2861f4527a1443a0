// A game's scores by period (a line score), opened by clicking its row: the plays come
// from /api/games/{id}, then each play the stream brings is added, so the line score
// moves with the game. It is a row of its own under the game's row, rebuilt from text
// with DOM calls when it changes (it is a handful of cells).

import { element } from './cells.js';
import { formatPeriod, regulationPeriods } from './format.js';

export class LineScore {
  /** board is the page's Board; apiRoot the app's root URL. */
  constructor(board, apiRoot) {
    this.board = board;
    this.apiRoot = apiRoot;
    this.gameId = 0;
    this.plays = new Map(); // play id → play, of the open game
    this.tr = element('tr', 'periods');
    this.cell = element('td');
    this.cell.colSpan = 5;
    this.tr.append(this.cell);
    this.fetching = null;
    this.drawn = '';
  }

  /** open shows game id's line score under its row (gameRow). */
  open(id) {
    this.fetching?.abort();
    this.gameId = id;
    this.plays = new Map(this.board.plays.filter((p) => p.game_id === id).map((p) => [p.id, p]));
    this.tr.dataset.gameFor = String(id);
    this.tr.dataset.loaded = 'false';
    this.drawn = '';
    this.draw();
    const abort = new AbortController();
    this.fetching = abort;
    fetch(new URL(`api/games/${id}`, this.apiRoot), { signal: abort.signal, headers: { Accept: 'application/json' } })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`HTTP ${res.status}`))))
      .then((game) => {
        if (this.gameId !== id) return;
        // The stream may have brought plays (or deletions) since; those stay the truth.
        for (const p of game.plays ?? []) if (!this.plays.has(p.id)) this.plays.set(p.id, p);
        this.tr.dataset.loaded = 'true';
        this.drawn = '';
        this.draw();
      })
      .catch((err) => {
        if (err.name !== 'AbortError') console.warn(`tickerboard: plays of game ${id}:`, err.message);
      });
  }

  /** close takes the line score away. */
  close() {
    this.fetching?.abort();
    this.gameId = 0;
    this.plays.clear();
    this.tr.remove();
  }

  /** play takes a play the stream just brought; it reports whether the open game's. */
  play(p) {
    if (!this.gameId) return false;
    if (p.deleted) return this.plays.delete(p.id);
    if (p.game_id !== this.gameId) return false;
    this.plays.set(p.id, p);
    return true;
  }

  /** draw renders the line score under the game's row, wherever that row now is. */
  draw() {
    const g = this.board.games.get(this.gameId);
    const row = document.querySelector(`#games tr[data-game="${this.gameId}"]`);
    if (!g || !row) {
      this.close();
      return;
    }
    if (row.nextElementSibling !== this.tr) row.after(this.tr);
    const byPeriod = { away: [], home: [] };
    let last = Math.max(1, Number(g.period) || 0);
    for (const p of this.plays.values()) {
      const period = Number(p.period) || 0;
      if (period < 1 || !(p.team in byPeriod)) continue;
      last = Math.max(last, period);
      byPeriod[p.team][period] = (byPeriod[p.team][period] ?? 0) + Number(p.points);
    }
    const shown = Math.min(Math.max(last, regulationPeriods(g.league) ?? last), 20);
    const key = JSON.stringify([byPeriod, shown, g.away_score, g.home_score, g.away_team, g.home_team, g.status, g.period]);
    if (key === this.drawn) return;
    this.drawn = key;

    const table = element('table', 'linescore');
    const caption = element('caption', 'sr-only', `Scores by period, ${g.away_team} at ${g.home_team}`);
    const head = element('tr');
    head.append(element('th', 'team', ''));
    for (let i = 1; i <= shown; i++) {
      const th = element('th', 'num', formatPeriod(g.league, i));
      th.scope = 'col';
      head.append(th);
    }
    const total = element('th', 'num total', 'T');
    total.scope = 'col';
    head.append(total);
    const thead = element('thead');
    thead.append(head);
    const tbody = element('tbody');
    for (const team of ['away', 'home']) {
      const tr = element('tr');
      tr.dataset.team = team;
      const name = element('th', 'team', team === 'away' ? g.away_team : g.home_team);
      name.scope = 'row';
      tr.append(name);
      for (let i = 1; i <= shown; i++) {
        const played = i <= (Number(g.period) || 0) || g.status === 'final' || byPeriod[team][i] != null;
        tr.append(element('td', 'num', played ? String(byPeriod[team][i] ?? 0) : '\u2013'));
      }
      tr.append(element('td', 'num total', String((team === 'away' ? g.away_score : g.home_score) ?? 0)));
      tbody.append(tr);
    }
    table.append(caption, thead, tbody);
    this.cell.replaceChildren(table);
  }
}
