// charts.js: tiny inline-SVG charts (no library, no network). Each returns an element sized by
// its container, with role="img" and a text summary for screen readers.
import { h } from './ui.js';

/** hbars draws labelled horizontal bars: data = [{label, value, color}]. */
export function hbars(data, { label = 'Chart' } = {}) {
  const max = Math.max(1, ...data.map(d => d.value));
  const rowH = 28, W = 420, lw = 110, vw = 50;
  const H = Math.max(rowH, data.length * rowH);
  const summary = data.map(d => `${d.label}: ${d.value}`).join(', ');
  return h('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}. ${summary}` },
    data.map((d, i) => {
      const y = i * rowH, w = ((W - lw - vw) * d.value) / max;
      return h('g', {},
        h('text', { x: lw - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#374151' }, d.label),
        h('rect', { x: lw, y: y + 5, width: Math.max(d.value ? 2 : 0, w), height: rowH - 10, rx: 3, fill: d.color || '#2563eb' },
          h('title', {}, `${d.label}: ${d.value}`)),
        h('text', { x: lw + w + 6, y: y + rowH / 2 + 4, 'font-size': 12, fill: '#111827', 'font-weight': 600 }, String(d.value)));
    }));
}

/**
 * daily draws created (bars) and resolved (line) tickets per day: points = [{date, created,
 * resolved}] in date order.
 */
export function daily(points, { label = 'Tickets per day' } = {}) {
  const W = 640, H = 220, L = 36, R = 10, T = 12, B = 28;
  const max = Math.max(1, ...points.flatMap(p => [p.created, p.resolved]));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const n = Math.max(1, points.length);
  const bw = (W - L - R) / n;
  const y = v => T + (H - T - B) * (1 - v / top);
  const x = i => L + bw * i + bw / 2;
  const grid = [];
  for (let v = 0; v <= top; v += step) {
    grid.push(h('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#e5e7eb' }),
      h('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#6b7280' }, String(v)));
  }
  const every = Math.ceil(n / 10);
  const line = points.map((p, i) => `${x(i)},${y(p.resolved)}`).join(' ');
  const total = points.reduce((a, p) => a + p.created, 0);
  return h('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: ${total} created over ${points.length} days` },
    grid,
    points.map((p, i) => h('g', {},
      h('rect', { x: x(i) - bw * 0.35, y: y(p.created), width: bw * 0.7, height: y(0) - y(p.created), fill: '#93c5fd', rx: 2 },
        h('title', {}, `${p.date}: ${p.created} created, ${p.resolved} resolved`)),
      i % every === 0 ? h('text', { x: x(i), y: H - 8, 'text-anchor': 'middle', 'font-size': 11, fill: '#6b7280' }, p.date.slice(5)) : null)),
    points.length > 1 ? h('polyline', { points: line, fill: 'none', stroke: '#16a34a', 'stroke-width': 2.5 }) : null,
    points.map((p, i) => h('circle', { cx: x(i), cy: y(p.resolved), r: 3, fill: '#16a34a' })));
}

function niceStep(max) {
  const raw = max / 4;
  const pow = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return Math.max(1, m * pow);
  return Math.max(1, pow * 10);
}
