// The board page: joins the stream (shared between tabs where the browser allows),
// folds messages into a Board at once, and paints what changed once per animation
// frame, so hundreds of updates a second cost one batch of DOM writes per frame.

import { Board, parseTime } from './board.js';
import { ChartView } from './chart.js';
import { LineScore } from './periods.js';
import { setData, setText } from './cells.js';
import { formatAsOf } from './format.js';
import { FiltersView, loadFilters, saveFilters, streamURL } from './filters.js';
import { ScoreboardView } from './scoreboard.js';
import { connect } from './source.js';
import { LagStats, StatusView } from './status.js';
import { TickerView } from './ticker.js';

const ROOT = new URL('../', import.meta.url); // the app's root, wherever it is mounted
const PENDING_MAX = 10000; // lag samples waiting for their frame
// What the page calls each session of the market table (market_session_valid).
const SESSION_NAMES = { 'pre-open': 'Pre-open', open: 'Market open', closed: 'Market closed' };

const $ = (selector) => document.querySelector(selector);

const board = new Board();
const ticker = new TickerView($('#quotes tbody'), board);
const scoreboard = new ScoreboardView(
  {
    live: $('#games tbody[data-group="live"]'),
    scheduled: $('#games tbody[data-group="scheduled"]'),
    final: $('#games tbody[data-group="final"]'),
  },
  $('#plays'),
  board,
);
const chart = new ChartView($('#detail'), ROOT, board);
const lineScore = new LineScore(board, ROOT);
const status = new StatusView($('#status'));
const lag = new LagStats(1000);

/** stats are the page's counters, read by the browser tests and the benchmark. */
const stats = {
  events: 0, // events applied
  repeats: 0, // events dropped as already seen
  snapshots: 0, // snapshots received
  snapshotsShown: 0, // snapshots painted (the page shows them once this counts them)
  resets: 0,
  histories: 0,
  heartbeats: 0,
  frames: 0, // frames that painted something
  paintMs: 0, // time spent painting, in total
  paintMaxMs: 0, // the longest paint
  handleMs: 0, // time spent folding messages into the board
  cspViolations: [],
  seen: new Map(), // "name:key" → events applied
};

let filters = loadFilters(location.href);
let source = null;
let state = 'connecting';
let refusal = ''; // the server's reason for refusing the stream, if any
let awaitingSnapshot = true;
let perSecond = 0;
let counted = 0;
let heardAt = 0; // Date.now() when the server last said anything (event or heartbeat)

const dirtyQuotes = new Set();
const dirtySparks = new Set();
const dirtyGames = new Set();
let playsDirty = false;
let chartDirty = false;
let marketDirty = false; // a `market` event since the last paint
let lineScoreDirty = false;
let lastAnnounced = 0; // the newest play id announced, or already there when loaded
const ANNOUNCE_KEY = 'tickerboard.announce';
let syncAll = false;
let scheduled = false;
const pendingCommits = []; // commit times (ms) of changes not yet painted

function onMessage(msg) {
  const start = performance.now();
  handle(msg);
  stats.handleMs += performance.now() - start;
}

function handle(msg) {
  switch (msg.type) {
    case 'status':
      state = msg.state;
      refusal = msg.error ?? '';
      status.setState(state, refusal);
      showFreshness();
      break;
    case 'heartbeat':
      heardAt = Date.now();
      stats.heartbeats++;
      break;
    case 'snapshot':
      heardAt = Date.now();
      board.load(msg.snapshot);
      lastAnnounced = Math.max(lastAnnounced, ...board.plays.map((p) => p.id));
      stats.snapshots++;
      awaitingSnapshot = false;
      syncAll = true;
      schedule();
      break;
    case 'reset':
      // Drop the state now; keep the old picture up until the snapshot that follows.
      board.clear();
      stats.resets++;
      awaitingSnapshot = true;
      break;
    case 'event':
      onEvent(msg);
      break;
    case 'events':
      for (const e of msg.events) onEvent(e);
      break;
    case 'history':
      if (board.mergeHistory(msg.symbol, msg.points)) {
        stats.histories++;
        dirtySparks.add(msg.symbol);
        schedule();
      }
      break;
  }
}

function onEvent({ name, id, data: text, value }) {
  heardAt = Date.now();
  const data = value !== undefined ? value : JSON.parse(text); // parsed already when the feed runs in this page
  const change = board.apply(name, id, data);
  if (!change) {
    stats.repeats++;
    return;
  }
  stats.events++;
  counted++;
  const key = `${name}:${change.key}`;
  stats.seen.set(key, (stats.seen.get(key) ?? 0) + 1);
  if (name === 'price') {
    dirtyQuotes.add(change.key);
    if (chart.price(data)) chartDirty = true;
  }
  else if (name === 'market') marketDirty = true;
  else if (name === 'score') dirtyGames.add(change.key);
  else if (name === 'play') {
    playsDirty = true;
    if (lineScore.play(data)) lineScoreDirty = true;
  }
  // A hidden tab paints nothing until it is shown; its lag says nothing about liveness.
  if (!document.hidden && pendingCommits.length < PENDING_MAX) {
    pendingCommits.push(parseTime(data?.updated_at ?? data?.created_at));
  }
  schedule();
}

function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(paint);
}

function paint() {
  scheduled = false;
  if (awaitingSnapshot) return; // after a reset: nothing trustworthy to show yet
  const start = performance.now();
  if (syncAll || marketDirty) showMarket();
  marketDirty = false;
  if (syncAll) {
    stats.snapshotsShown++;
    ticker.sync();
    scoreboard.sync();
  } else {
    for (const symbol of dirtyQuotes) ticker.update(symbol);
    for (const symbol of dirtySparks) if (!dirtyQuotes.has(symbol)) ticker.redrawSpark(symbol);
    for (const id of dirtyGames) scoreboard.update(id);
    if (playsDirty || dirtyGames.size) scoreboard.renderPlays();
    if (playsDirty) announcePlays();
  }
  ticker.reorder();
  if (chartDirty || syncAll) chart.draw();
  if (lineScore.gameId && (lineScoreDirty || syncAll || dirtyGames.size)) lineScore.draw();
  chartDirty = false;
  lineScoreDirty = false;
  syncAll = false;
  playsDirty = false;
  dirtyQuotes.clear();
  dirtySparks.clear();
  dirtyGames.clear();
  status.setLastId(board.id);
  setData($('#ticker'), 'empty', String(board.quotes.size === 0));
  setData($('#scores'), 'empty', String(board.games.size === 0));
  stats.frames++;
  const end = performance.now();
  stats.paintMs += end - start;
  stats.paintMaxMs = Math.max(stats.paintMaxMs, end - start);
  // The change is on screen once this frame is painted; measure to now, after the
  // DOM writes, against the commit's wall-clock time. That compares the database's
  // clock with this machine's: a clock ahead of the database's would read as negative
  // lag, which is shown as none.
  const now = performance.timeOrigin + end;
  for (const t of pendingCommits) if (Number.isFinite(t)) lag.add(Math.max(0, now - t));
  pendingCommits.length = 0;
}

// showFreshness says how current the board is, and greys the numbers out when they are
// not live (the board keeps the last known state: better than an empty page).
function showFreshness() {
  status.setFreshness(state, heardAt);
  setData($('main'), 'stale', String(state !== 'live' && heardAt > 0));
}

// announcePlays tells a screen reader about new scoring plays and the score after them,
// when the viewer asked for it: every play read out is too much for most.
function announcePlays() {
  const fresh = board.plays.filter((p) => p.id > lastAnnounced);
  if (!fresh.length) return;
  lastAnnounced = Math.max(...fresh.map((p) => p.id));
  if (!$('#announce').checked) return;
  $('#announcer').textContent = fresh
    .map((p) => {
      const g = board.games.get(p.game_id);
      if (!g) return '';
      const team = p.team === 'home' ? g.home_team : g.away_team;
      const who = p.scorer ? `, ${p.scorer}` : '';
      return `${team} +${p.points}${who}. ${g.away_team} ${g.away_score ?? 0}, ${g.home_team} ${g.home_score ?? 0}.`;
    })
    .join(' ');
}

try {
  $('#announce').checked = localStorage.getItem(ANNOUNCE_KEY) === 'true';
} catch {
  // no storage: off until ticked
}
$('#announce').addEventListener('change', (e) => {
  try {
    localStorage.setItem(ANNOUNCE_KEY, String(e.target.checked));
  } catch {
    // not remembered, still on for this page
  }
});

// showMarket shows the market session, as the market table (the price feed, or
// anyone with psql) last set it, with when it was set, and the time of the newest
// price, in the viewer's time zone.
function showMarket() {
  let newest = -Infinity;
  for (const q of board.quotes.values()) newest = Math.max(newest, parseTime(q.updated_at) || -Infinity);
  const m = board.market;
  const session = Object.hasOwn(SESSION_NAMES, m?.session) ? m.session : '';
  const el = $('#ticker [data-field="session"]');
  setData(el, 'session', session);
  setText(el, session ? `${SESSION_NAMES[session]} · as of ${formatAsOf(parseTime(m.updated_at))}` : '');
  setText($('#ticker [data-field="quotes-as-of"]'), Number.isFinite(newest) ? `as of ${formatAsOf(newest)}` : '');
}

// showSort marks the sorted column for assistive technology (and the arrow in CSS).
function showSort() {
  for (const th of $('#quotes thead tr').children) {
    const key = th.querySelector('button[data-sort]')?.dataset.sort;
    if (!ticker.movers && key === ticker.sort.key) {
      th.setAttribute('aria-sort', ticker.sort.dir > 0 ? 'ascending' : 'descending');
    } else {
      th.removeAttribute('aria-sort');
    }
  }
  $('#ticker button.movers').setAttribute('aria-pressed', String(ticker.movers));
}

$('#quotes thead').addEventListener('click', (e) => {
  const button = e.target.closest('button[data-sort]');
  if (!button) return;
  ticker.sortBy(button.dataset.sort);
  showSort();
  schedule();
});
// A click on a row opens its symbol's chart; another on the same row closes it.
function toggleChart(e) {
  const symbol = e.target.closest('tr[data-symbol]')?.dataset.symbol;
  if (!symbol) return;
  if (chart.symbol === symbol) chart.close();
  else chart.open(symbol);
}
$('#quotes tbody').addEventListener('click', toggleChart);
// A click on a game opens its scores by period; another on it closes them.
function toggleLineScore(e) {
  const id = Number(e.target.closest('tr[data-game]')?.dataset.game);
  if (!id) return;
  if (lineScore.gameId === id) lineScore.close();
  else lineScore.open(id);
}
$('#games').addEventListener('click', toggleLineScore);
$('#games').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' && e.key !== ' ') return;
  e.preventDefault();
  toggleLineScore(e);
});
$('#quotes tbody').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' && e.key !== ' ') return;
  e.preventDefault();
  toggleChart(e);
});

$('#ticker button.movers').addEventListener('click', () => {
  ticker.showMovers(!ticker.movers);
  showSort();
  schedule();
});

function applyTopics() {
  $('#ticker').hidden = !filters.topics.includes('price');
  $('#scores').hidden = !filters.topics.includes('score');
}

function open() {
  source?.close();
  board.clear();
  awaitingSnapshot = true;
  source = connect(streamURL(ROOT, filters), onMessage);
  status.setMode(source.mode);
}

new FiltersView($('#filters'), filters, (next) => {
  filters = next;
  saveFilters(filters);
  applyTopics();
  open();
});

setInterval(() => {
  perSecond = counted;
  counted = 0;
  status.setFigures(perSecond, lag.summary());
  status.setMode(source.mode);
  showFreshness();
  showMarket();
  if (ticker.valuesMoved) schedule(); // a sort held back while prices moved
}, 1000);
addEventListener('online', () => status.setState(state, refusal));
addEventListener('offline', () => status.setState(state, refusal));
document.addEventListener('securitypolicyviolation', (e) => {
  stats.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});

/**
 * window.tickerboard exposes the page's figures to tests and the benchmark: lag() is
 * {n, p50, p99, max} in ms over the last 1000 changes painted.
 */
window.tickerboard = Object.freeze({
  get mode() {
    return source.mode;
  },
  get state() {
    return state;
  },
  get lastId() {
    return board.id;
  },
  get streamURL() {
    return streamURL(ROOT, filters);
  },
  get filters() {
    return structuredClone(filters);
  },
  get heardAt() {
    return heardAt;
  },
  get eventsPerSecond() {
    return perSecond;
  },
  stats,
  seen: (name, key) => stats.seen.get(`${name}:${key}`) ?? 0,
  lag: () => lag.summary(),
  clearLag: () => lag.clear(),
  streams: () => source.info(),
});

applyTopics();
open();
status.setState(state);
status.setFigures(0, lag.summary());
