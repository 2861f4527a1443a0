// How numbers and times read on the board. Formatters are built once: Intl objects
// are costly to make and cheap to reuse.

const MINUS = '\u2212';
const price = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const smallPrice = new Intl.NumberFormat('en-US', { minimumFractionDigits: 4, maximumFractionDigits: 4 });
const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const clock = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});
const start = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false,
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

/** formatVolume shows a share count with thousands separators. */
export function formatVolume(n) {
  if (n == null || !Number.isFinite(n)) return DASH;
  return whole.format(n);
}

/** formatClock shows a time of day to the second, for the latest plays. */
export function formatClock(ms) {
  return Number.isFinite(ms) ? clock.format(ms) : '';
}

/** formatStart shows when a scheduled game begins. */
export function formatStart(ms) {
  return Number.isFinite(ms) ? start.format(ms) : 'TBD';
}

/** formatMs shows a duration in milliseconds for the status bar. */
export function formatMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return DASH;
  if (ms >= 10000) return (ms / 1000).toFixed(0) + ' s';
  if (ms >= 1000) return (ms / 1000).toFixed(1) + ' s';
  return Math.round(ms) + ' ms';
}

const periodNames = new Map([
  ['NBA', 'Q'], ['WNBA', 'Q'], ['NFL', 'Q'], ['NCAAF', 'Q'], ['NCAAB', 'H'],
  ['NHL', 'P'], ['MLB', 'Inn '], ['MLS', 'H'], ['EPL', 'H'],
]);

/** formatPeriod names a period the way the league does (Q3, P2, H1). */
export function formatPeriod(league, period) {
  if (!period) return DASH;
  const prefix = periodNames.get(String(league).toUpperCase()) ?? 'P';
  return prefix + period;
}
