// How numbers and times read on the board. Formatters are built once: Intl objects
// are costly to make and cheap to reuse.

const MINUS = '\u2212';
// Numbers and times read the viewer's way: their locale's separators, their time zone.
const price = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const smallPrice = new Intl.NumberFormat(undefined, { minimumFractionDigits: 4, maximumFractionDigits: 4 });
const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const clock = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});
const start = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false,
});

const asOf = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
});

const DASH = '\u2014';

/** formatPrice shows a price in dollars and cents (sub-dollar prices keep 4 digits). */
export function formatPrice(n) {
  if (n == null || !Number.isFinite(n)) return DASH;
  return Math.abs(n) < 1 ? smallPrice.format(n) : price.format(n);
}

/** formatChange shows a signed change, so direction never rests on colour alone. */
export function formatChange(n, suffix = '') {
  if (n == null || !Number.isFinite(n)) return DASH;
  const sign = n > 0 ? '+' : n < 0 ? MINUS : '';
  return sign + price.format(Math.abs(n)) + suffix;
}

/** formatChangePct shows a signed change in percent the viewer's way (+1.35%, +1,35 %). */
export function formatChangePct(n) {
  if (n == null || !Number.isFinite(n)) return DASH;
  const sign = n > 0 ? '+' : n < 0 ? MINUS : '';
  return sign + percent.format(Math.abs(n) / 100);
}

/** formatVolume shows a share count compactly (5.1M); formatShares gives it in full. */
export function formatVolume(n) {
  if (n == null || !Number.isFinite(n)) return DASH;
  return compact.format(n);
}

/** formatShares shows a share count with thousands separators, for a tooltip. */
export function formatShares(n) {
  if (n == null || !Number.isFinite(n)) return '';
  return `${whole.format(n)} shares`;
}

/** formatClock shows a time of day to the second, for the latest plays. */
export function formatClock(ms) {
  return Number.isFinite(ms) ? clock.format(ms) : '';
}

/** formatStart shows when a scheduled game begins. */
export function formatStart(ms) {
  return Number.isFinite(ms) ? start.format(ms) : 'TBD';
}

/** formatAsOf shows a time of day with the viewer's time zone, for "as of …". */
export function formatAsOf(ms) {
  return Number.isFinite(ms) ? asOf.format(ms) : DASH;
}

/** formatAgo shows an age in whole seconds, minutes or hours ("12 s", "3 min", "2 h"). */
export function formatAgo(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

/** formatMs shows a duration in milliseconds for the status bar. */
export function formatMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return DASH;
  if (ms >= 10000) return (ms / 1000).toFixed(0) + ' s';
  if (ms >= 1000) return (ms / 1000).toFixed(1) + ' s';
  return Math.round(ms) + ' ms';
}

// How leagues name their periods, and how many a game has before overtime.
const leagues = new Map([
  ['NBA', ['Q', 4]], ['WNBA', ['Q', 4]], ['BASKETBALL', ['Q', 4]],
  ['NFL', ['Q', 4]], ['NCAAF', ['Q', 4]], ['FOOTBALL', ['Q', 4]],
  ['NHL', ['P', 3]], ['HOCKEY', ['P', 3]],
  ['MLS', ['H', 2]], ['EPL', ['H', 2]], ['SOCCER', ['H', 2]],
  ['MLB', ['Inn ', Infinity]], ['BASEBALL', ['Inn ', Infinity]],
]);

/** formatPeriod names a period the way the league does (Q3, P2, H1, OT, 2OT). */
export function formatPeriod(league, period) {
  if (!period) return DASH;
  const [prefix, regulation] = leagues.get(String(league).toUpperCase()) ?? ['P', Infinity];
  if (period > regulation) {
    const n = period - regulation;
    return n === 1 ? 'OT' : `${n}OT`;
  }
  return prefix + period;
}

/** regulationPeriods is how many periods a league plays before overtime (undefined if
 * the league is not known). */
export function regulationPeriods(league) {
  const n = leagues.get(String(league).toUpperCase())?.[1];
  return Number.isFinite(n) ? n : undefined;
}

/** isOvertime says whether a league's game is past its regulation periods. */
export function isOvertime(league, period) {
  const [, regulation] = leagues.get(String(league).toUpperCase()) ?? ['P', Infinity];
  return Number(period) > regulation;
}

/** formatFinal marks a finished game, and one decided in overtime (Final/OT, Final/2OT). */
export function formatFinal(league, period) {
  return isOvertime(league, period) ? `Final/${formatPeriod(league, period)}` : 'Final';
}

/**
 * abbreviate shortens a team's name for a narrow screen: the initials of a name of
 * several words (Golden State Warriors → GSW), else its first three letters (LAK).
 */
export function abbreviate(name) {
  const words = String(name ?? '').trim().split(/\s+/).filter(Boolean);
  if (words.length >= 2) return words.slice(0, 3).map((w) => [...w][0]).join('').toUpperCase();
  return [...(words[0] ?? '')].slice(0, 3).join('').toUpperCase();
}

/**
 * formatGameTime is the period and clock ("Q3 4:12"). A clock that is words rather
 * than time ("End Q1", "HT") already says where the game is, so it stands alone.
 */
export function formatGameTime(league, period, clock) {
  const c = String(clock ?? '').trim();
  if (c && !/^\d/.test(c)) return c;
  return c ? `${formatPeriod(league, period)} ${c}` : formatPeriod(league, period);
}
