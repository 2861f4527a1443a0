// Filters: a watchlist of symbols and the topics shown. They map one to one onto the
// stream's ?symbols= and ?topics=, and live in the page's URL (to share or bookmark)
// and in localStorage (so a plain reload keeps them).

const STORAGE_KEY = 'tickerboard.filters';
const TOPICS = ['price', 'score'];
const SYMBOL = /^[A-Z][A-Z0-9.]{0,9}$/; // as the schema's quotes_symbol_format
const MAX_SYMBOLS = 100; // as the server's limit

/** defaultFilters is everything: all symbols, both topics. */
export function defaultFilters() {
  return { symbols: [], topics: [...TOPICS] };
}

/** loadFilters reads the page URL's filters, else the saved ones, else the defaults. */
export function loadFilters(pageURL) {
  const q = new URL(pageURL).searchParams;
  if (q.has('symbols') || q.has('topics')) {
    const symbols = parseWatchlist(q.get('symbols') ?? '');
    const topics = (q.get('topics') ?? TOPICS.join(',')).split(',').filter((t) => TOPICS.includes(t));
    return {
      symbols: symbols.error ? [] : symbols.symbols,
      topics: topics.length ? topics : [...TOPICS],
    };
  }
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
    if (saved && Array.isArray(saved.symbols) && Array.isArray(saved.topics)) {
      const symbols = saved.symbols.filter((s) => typeof s === 'string' && SYMBOL.test(s));
      const topics = saved.topics.filter((t) => TOPICS.includes(t));
      return { symbols: symbols.slice(0, MAX_SYMBOLS), topics: topics.length ? topics : [...TOPICS] };
    }
  } catch {
    // storage disabled or a corrupt entry: fall through to the defaults
  }
  return defaultFilters();
}

/** saveFilters puts the filters in the address bar (without a reload) and in storage. */
export function saveFilters(filters) {
  const url = new URL(location.href);
  url.searchParams.delete('symbols');
  url.searchParams.delete('topics');
  let query = url.searchParams.toString();
  const own = ownQuery(filters);
  if (own) query = query ? `${query}&${own}` : own;
  url.search = query;
  history.replaceState(history.state, '', url);
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(filters));
  } catch {
    // the URL still has them
  }
}

/**
 * parseWatchlist reads "aapl, msft brk.b" as symbols, or an error naming the first bad
 * one, so a typo is reported here rather than becoming a stream the server refuses.
 */
export function parseWatchlist(text) {
  const symbols = [];
  for (const raw of text.split(/[\s,]+/)) {
    if (!raw) continue;
    const s = raw.toUpperCase();
    if (!SYMBOL.test(s)) {
      return { symbols: [], error: `“${raw.slice(0, 20)}” is not a symbol (1–10 of A–Z, 0–9, “.”, starting with a letter)` };
    }
    if (!symbols.includes(s)) symbols.push(s);
  }
  if (symbols.length > MAX_SYMBOLS) return { symbols: [], error: `at most ${MAX_SYMBOLS} symbols` };
  return { symbols, error: '' };
}

/** streamURL is the events URL for the filters, relative to the app's root. */
export function streamURL(root, filters) {
  const url = new URL('events', root);
  url.search = ownQuery(filters);
  return url.href;
}

// ownQuery leaves out what is the default, and keeps commas readable (symbols and
// topics never need escaping).
function ownQuery(filters) {
  const parts = [];
  if (filters.topics.length && filters.topics.length < TOPICS.length) {
    parts.push('topics=' + filters.topics.join(','));
  }
  if (filters.symbols.length) parts.push('symbols=' + filters.symbols.join(','));
  return parts.join('&');
}

/**
 * FiltersView binds the filter form: topic toggles apply at once, the watchlist when
 * submitted. onChange receives the new filters.
 */
export class FiltersView {
  constructor(form, filters, onChange) {
    this.form = form;
    this.input = form.querySelector('[name="watchlist"]');
    this.error = form.querySelector('[data-field="filter-error"]');
    this.boxes = [...form.querySelectorAll('[name="topic"]')];
    this.filters = filters;
    this.onChange = onChange;
    this.show(filters);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#apply();
    });
    for (const box of this.boxes) box.addEventListener('change', () => this.#apply());
  }

  show(filters) {
    this.input.value = filters.symbols.join(', ');
    for (const box of this.boxes) box.checked = filters.topics.includes(box.value);
  }

  #apply() {
    const { symbols, error } = parseWatchlist(this.input.value);
    const topics = this.boxes.filter((b) => b.checked).map((b) => b.value);
    this.input.setAttribute('aria-invalid', String(Boolean(error)));
    if (error) return this.#say(error);
    if (topics.length === 0) {
      for (const box of this.boxes) box.checked = this.filters.topics.includes(box.value);
      return this.#say('show prices, scores or both');
    }
    this.#say('');
    const next = { symbols, topics };
    if (JSON.stringify(next) === JSON.stringify(this.filters)) return;
    this.filters = next;
    this.input.value = symbols.join(', ');
    this.onChange(next);
  }

  #say(message) {
    this.error.textContent = message;
  }
}
