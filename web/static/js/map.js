// map.js: an offline map drawn in SVG — zone polygons, ticket dots coloured by status and team
// home bases. No tiles: a city's zones are small enough for an equirectangular projection
// scaled by cos(latitude).
import { h } from './ui.js';
import { STATUS_LABEL } from './status.js';

export const STATUS_COLOR = {
  open: '#6b7280', assigned: '#2563eb', in_progress: '#d97706', on_hold: '#7c3aed',
  resolved: '#16a34a', closed: '#0f766e', cancelled: '#9ca3af',
};
const ZONE_FILL = ['#bfdbfe', '#bbf7d0', '#fde68a', '#fbcfe8', '#ddd6fe', '#a5f3fc', '#fed7aa', '#e5e7eb'];

/** projection fits every point of zones (and extra points) into a W-wide viewBox. */
export function projection(zones, extra = [], W = 1000, pad = 30) {
  const pts = [...zones.flatMap(z => [...(z.boundary || []), z.center].filter(Boolean)), ...extra].filter(p => p && isFinite(p.lat) && isFinite(p.lng));
  if (!pts.length) pts.push({ lat: 0, lng: 0 });
  let minLat = Math.min(...pts.map(p => p.lat)), maxLat = Math.max(...pts.map(p => p.lat));
  let minLng = Math.min(...pts.map(p => p.lng)), maxLng = Math.max(...pts.map(p => p.lng));
  if (maxLat - minLat < 1e-4) { minLat -= 0.01; maxLat += 0.01; }
  if (maxLng - minLng < 1e-4) { minLng -= 0.01; maxLng += 0.01; }
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const sx = (W - 2 * pad) / ((maxLng - minLng) * k);
  const H = Math.round((maxLat - minLat) * sx + 2 * pad);
  return {
    W, H,
    xy: p => [pad + (p.lng - minLng) * k * sx, pad + (maxLat - p.lat) * sx],
    latlng: (x, y) => ({ lat: maxLat - (y - pad) / sx, lng: minLng + (x - pad) / (k * sx) }),
  };
}

/**
 * renderMap returns an <svg>. opts: zones, tickets, teams, selectedZone, onTicket(t),
 * onPick({lat,lng}) for clicks on the map (zone picker), pick (a point to mark).
 */
export function renderMap({ zones = [], tickets = [], teams = [], selectedZone = '', onTicket, onPick, pick, label = 'Map' }) {
  const withPos = tickets.filter(t => t.lat != null && t.lng != null);
  const bases = teams.filter(t => t.home_lat != null && t.home_lng != null);
  const proj = projection(zones, [...withPos.map(t => ({ lat: t.lat, lng: t.lng })), ...bases.map(t => ({ lat: t.home_lat, lng: t.home_lng }))]);
  const svg = h('svg', { viewBox: `0 0 ${proj.W} ${proj.H}`, role: 'group', 'aria-label': label });
  svg.append(h('rect', { x: 0, y: 0, width: proj.W, height: proj.H, fill: '#eef3f8' }));
  zones.forEach((z, i) => {
    if (!z.boundary?.length) return;
    const pts = z.boundary.map(p => proj.xy(p).join(',')).join(' ');
    svg.append(h('polygon', { class: `zone${z.name === selectedZone ? ' active' : ''}`, points: pts, fill: ZONE_FILL[i % ZONE_FILL.length], 'data-zone': z.name },
      h('title', {}, z.name + (z.region ? ` (${z.region})` : ''))));
  });
  for (const t of bases) {
    const [x, y] = proj.xy({ lat: t.home_lat, lng: t.home_lng });
    svg.append(h('path', { class: 'base', d: `M${x},${y - 9} L${x + 8},${y - 2} L${x + 8},${y + 7} L${x - 8},${y + 7} L${x - 8},${y - 2} Z`, 'data-team': t.id },
      h('title', {}, `Team ${t.name} home base (${t.zone})`)));
  }
  for (const t of withPos) {
    const [x, y] = proj.xy({ lat: t.lat, lng: t.lng });
    const dot = h('circle', { class: 'tdot', cx: x, cy: y, r: t.priority === 'critical' ? 8 : 6, fill: STATUS_COLOR[t.status] || '#111', 'data-ticket': t.id,
      tabindex: onTicket ? 0 : null, role: onTicket ? 'button' : null, 'aria-label': `${t.ticket_number} ${t.title}, ${STATUS_LABEL[t.status]}` },
      h('title', {}, `${t.ticket_number} · ${t.title} · ${STATUS_LABEL[t.status] || t.status}`));
    if (onTicket) {
      dot.addEventListener('click', e => { e.stopPropagation(); onTicket(t); });
      dot.addEventListener('keydown', e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onTicket(t); } });
    }
    svg.append(dot);
  }
  // Labels last, so dots never hide a zone's name (they ignore the pointer).
  zones.forEach(z => {
    if (!z.center) return;
    const [x, y] = proj.xy(z.center);
    svg.append(h('text', { class: 'zlabel', x, y, 'text-anchor': 'middle' }, z.name));
  });
  if (pick) {
    const [x, y] = proj.xy(pick);
    svg.append(h('g', { 'pointer-events': 'none' },
      h('circle', { cx: x, cy: y, r: 9, fill: 'none', stroke: '#dc2626', 'stroke-width': 3 }),
      h('circle', { cx: x, cy: y, r: 2.5, fill: '#dc2626' })));
  }
  if (onPick) {
    svg.style.cursor = 'crosshair';
    svg.addEventListener('click', e => {
      const m = svg.getScreenCTM();
      if (!m) return;
      const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
      onPick(proj.latlng(p.x, p.y));
    });
  }
  return svg;
}

/** zoneAt returns the name of the zone whose boundary contains p (ray casting), or ''. */
export function zoneAt(zones, p) {
  for (const z of zones) {
    const b = z.boundary || [];
    let inside = false;
    for (let i = 0, j = b.length - 1; i < b.length; j = i++) {
      if ((b[i].lat > p.lat) !== (b[j].lat > p.lat) &&
        p.lng < ((b[j].lng - b[i].lng) * (p.lat - b[i].lat)) / (b[j].lat - b[i].lat) + b[i].lng) inside = !inside;
    }
    if (inside) return z.name;
  }
  return '';
}

/** legend lists the status colours. */
export function legend() {
  return h('div', { class: 'legend' }, Object.entries(STATUS_COLOR).map(([s, c]) => h('span', { style: `--c:${c}` }, STATUS_LABEL[s])),
    h('span', { style: '--c:#111827' }, 'Team home base'));
}
