// A sparkline is an SVG polyline whose points are rewritten in place; the element is
// made once per row and never replaced.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 100;
const HEIGHT = 24;
const PAD = 2;

/** createSparkline returns {el, draw(points)} for [[price, ms], …] oldest first. */
export function createSparkline() {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('aria-hidden', 'true');
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('vector-effect', 'non-scaling-stroke');
  svg.append(line);
  let drawn = '';
  return {
    el: svg,
    draw(points = []) {
      const text = pointsText(points);
      if (text === drawn) return;
      drawn = text;
      line.setAttribute('points', text);
      const trend = points.length > 1 ? Math.sign(points[points.length - 1][0] - points[0][0]) : 0;
      svg.dataset.trend = trend > 0 ? 'up' : trend < 0 ? 'down' : 'flat';
      svg.dataset.points = String(points.length);
    },
  };
}

function pointsText(points) {
  if (points.length === 0) return '';
  let lo = Infinity;
  let hi = -Infinity;
  for (const [p] of points) {
    if (p < lo) lo = p;
    if (p > hi) hi = p;
  }
  const span = hi - lo || 1;
  if (points.length === 1) return `0,${HEIGHT / 2} ${WIDTH},${HEIGHT / 2}`; // one price: a level line
  const step = WIDTH / (points.length - 1);
  let out = '';
  for (let i = 0; i < points.length; i++) {
    const x = i * step;
    const y = hi === lo ? HEIGHT / 2 : PAD + (HEIGHT - 2 * PAD) * (1 - (points[i][0] - lo) / span);
    out += (i ? ' ' : '') + x.toFixed(1) + ',' + y.toFixed(1);
  }
  return out;
}
