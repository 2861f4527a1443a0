// In-place cell updates. A cell is written only when its text changes, and a change
// restarts a short flash by switching between two identical animations, which needs no
// forced reflow.

/** setText writes text into el when it differs, reporting whether it did. */
export function setText(el, text) {
  if (el.textContent === text) return false;
  el.textContent = text;
  return true;
}

/** setData sets el's data-key when it differs: even an unchanged write can make the
 * browser restyle everything that [data-…] selectors match. */
export function setData(el, key, value) {
  if (el.dataset[key] !== value) el.dataset[key] = value;
}

/** setTitle sets el's tooltip when it differs. */
export function setTitle(el, title) {
  if (el.title !== title) el.title = title;
}

// A cell that flashed the same way this recently is still bright: restarting its
// flash would cost a style change and show nothing. At hundreds of updates a second
// this keeps the flashing to what an eye can see.
const REFLASH_MS = 250;
const flashedAt = new WeakMap(); // cell → performance.now() of its last flash

/**
 * flash restarts el's flash in the colour of dir: "up" (green), "down" (red) or
 * "same" (neutral). The flash fades; a lasting colour is the caller's data-dir.
 */
export function flash(el, dir, now = performance.now()) {
  const current = el.dataset.flash ?? '';
  if (current.startsWith(dir + '-') && now - (flashedAt.get(el) ?? -Infinity) < REFLASH_MS) return;
  flashedAt.set(el, now);
  el.dataset.flash = current === `${dir}-a` ? `${dir}-b` : `${dir}-a`;
}

/** direction compares two numbers as up, down or same. */
export function direction(before, after) {
  if (before == null || after == null) return 'same';
  return after > before ? 'up' : after < before ? 'down' : 'same';
}

/** element makes an element with a class and optional text, never parsing HTML. */
export function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}
