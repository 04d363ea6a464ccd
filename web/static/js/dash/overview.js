// overview.js: the dashboard home — KPI cards, charts, zone performance and top performers.
import { api, refs } from './ctx.js';
import { h, mount, loading, errorBox, fmt } from '../ui.js';
import { hbars, daily } from '../charts.js';
import { STATUSES, STATUS_LABEL, PRIORITIES, PRIORITY_LABEL } from '../status.js';
import { STATUS_COLOR } from '../map.js';
import { items, qs } from '../api.js';
import * as live from '../live.js';

const PRIORITY_COLOR = { low: '#94a3b8', medium: '#3b82f6', high: '#f59e0b', critical: '#dc2626' };
const DAYS = 14;

export function render(main) {
  const kpis = h('section', { class: 'kpis', 'aria-label': 'Key figures' }, loading());
  const perDay = h('div', { class: 'chart' }, loading());
  const byStatus = h('div', { class: 'chart' }, loading());
  const byPriority = h('div', { class: 'chart' }, loading());
  const zonesBox = h('div', {}, loading());
  const topBox = h('div', {}, loading());
  const err = h('div');
  mount(main,
    h('h1', {}, 'Overview'), err, kpis,
    h('div', { class: 'grid grid-3' },
      h('section', { class: 'panel', 'aria-labelledby': 'h-daily' }, h('div', { class: 'panel-head' }, h('h2', { id: 'h-daily' }, `Tickets per day (last ${DAYS} days)`)), perDay,
        h('div', { class: 'legend' }, h('span', { style: '--c:#93c5fd' }, 'Created'), h('span', { style: '--c:#16a34a' }, 'Resolved'))),
      h('section', { class: 'panel', 'aria-labelledby': 'h-status' }, h('h2', { id: 'h-status' }, 'By status'), byStatus),
      h('section', { class: 'panel', 'aria-labelledby': 'h-prio' }, h('h2', { id: 'h-prio' }, 'By priority'), byPriority)),
    h('div', { class: 'grid grid-2' },
      h('section', { class: 'panel', 'aria-labelledby': 'h-zones' }, h('h2', { id: 'h-zones' }, 'Zone performance'), zonesBox),
      h('section', { class: 'panel', 'aria-labelledby': 'h-top' }, h('h2', { id: 'h-top' }, 'Top performers'), topBox)));

  async function refresh() {
    const [ov, zs, perf, trend] = await Promise.allSettled([
      api.get('/api/tickets/analytics/overview'),
      api.get('/api/auth/teams/analytics/zones'),
      api.get('/api/auth/teams/analytics/performance'),
      trends(),
    ]);
    mount(err);
    if (ov.status === 'fulfilled') {
      renderKPIs(kpis, ov.value);
      mount(byStatus, hbars(STATUSES.map(s => ({ label: STATUS_LABEL[s], value: ov.value.by_status?.[s] || 0, color: STATUS_COLOR[s] })), { label: 'Tickets by status' }));
      mount(byPriority, hbars(PRIORITIES.map(p => ({ label: PRIORITY_LABEL[p], value: ov.value.by_priority?.[p] || 0, color: PRIORITY_COLOR[p] })), { label: 'Tickets by priority' }));
    } else {
      mount(kpis, errorBox(ov.reason, refresh));
    }
    if (trend.status === 'fulfilled') {
      mount(perDay, trend.value.length ? daily(trend.value) : h('p', { class: 'empty' }, 'No tickets in this period.'));
    } else mount(perDay, errorBox(trend.reason));
    if (zs.status === 'fulfilled') mount(zonesBox, zoneTable(items(zs.value)));
    else mount(zonesBox, errorBox(zs.reason));
    if (perf.status === 'fulfilled') mount(topBox, ranking(items(perf.value)));
    else mount(topBox, errorBox(perf.reason));
    const failed = [ov, zs, perf, trend].find(r => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
  refresh().catch(() => {});
  return live.subscribe(refresh);
}

function renderKPIs(box, ov) {
  const card = (key, label, value, sub, cls = '') =>
    h('div', { class: `kpi ${cls}`, 'data-kpi': key }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
  mount(box,
    card('total', 'Total tickets', fmt.num(ov.total)),
    card('open', 'Open', fmt.num(ov.open), 'not yet resolved'),
    card('unassigned', 'Unassigned', fmt.num(ov.unassigned), 'need a team', ov.unassigned ? 'warn' : ''),
    card('overdue', 'Overdue', fmt.num(ov.overdue), 'past due date', ov.overdue ? 'bad' : 'good'),
    card('sla_met_rate', 'SLA met', fmt.pct01(ov.sla_met_rate), 'resolved on time'),
    card('avg_resolution_hours', 'Avg resolution', fmt.hours(ov.avg_resolution_hours)),
    card('avg_rating', 'Avg rating', fmt.rating(ov.avg_rating), 'customer, 1–5'),
    card('teams_available', 'Teams available', `${fmt.num(ov.teams_available)} / ${fmt.num(ov.teams_total)}`, 'available / total', 'good'));
}

/**
 * trends returns the last DAYS days of ticket flow (created, resolved), one point per day with
 * empty days filled in. It reads the hub's daily analytics; should that endpoint be missing (an
 * older hub or an edge), it counts the most recent tickets itself.
 */
async function trends() {
  const days = [];
  const today = new Date(); today.setUTCHours(0, 0, 0, 0);
  for (let i = DAYS - 1; i >= 0; i--) days.push({ date: new Date(today - i * 86400e3).toISOString().slice(0, 10), created: 0, resolved: 0 });
  const idx = new Map(days.map((d, i) => [d.date, i]));
  try {
    const r = await api.get(`/api/tickets/analytics/performance${qs({ from: days[0].date })}`);
    for (const p of r.trends || []) {
      const i = idx.get(p.date);
      if (i !== undefined) { days[i].created = p.created; days[i].resolved = p.resolved; }
    }
    return days;
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const page = await api.get(`/api/tickets?sort=-created_at&limit=500`);
  for (const t of items(page)) {
    const c = idx.get(t.created_at?.slice(0, 10)); if (c !== undefined) days[c].created++;
    const r = idx.get(t.resolved_at?.slice(0, 10)); if (r !== undefined) days[r].resolved++;
  }
  return days;
}

function zoneTable(rows) {
  if (!rows.length) return h('p', { class: 'empty' }, 'No zones yet.');
  rows = [...rows].sort((a, b) => a.zone.localeCompare(b.zone));
  return h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'zone-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Zone'), h('th', { scope: 'col', class: 'num' }, 'Teams'), h('th', { scope: 'col', class: 'num' }, 'Open'),
      h('th', { scope: 'col', class: 'num' }, 'Overdue'), h('th', { scope: 'col', class: 'num' }, 'Closed'), h('th', { scope: 'col', class: 'num' }, 'Avg res.'),
      h('th', { scope: 'col', class: 'num' }, 'SLA met'), h('th', { scope: 'col', class: 'num' }, 'Efficiency'))),
    h('tbody', {}, rows.map(z => h('tr', {},
      h('th', { scope: 'row' }, z.zone), h('td', { class: 'num' }, `${z.active_teams}/${z.total_teams}`), h('td', { class: 'num' }, fmt.num(z.open_tickets)),
      h('td', { class: 'num' }, z.overdue_tickets ? h('strong', { style: 'color:var(--danger)' }, fmt.num(z.overdue_tickets)) : '0'),
      h('td', { class: 'num' }, fmt.num(z.closed_tickets)), h('td', { class: 'num' }, fmt.hours(z.avg_resolution_hours)),
      h('td', { class: 'num' }, fmt.pct01(z.sla_met_rate)), h('td', { class: 'num' }, fmt.pct100(z.efficiency)))))));
}

function ranking(rows) {
  if (!rows.length) return h('p', { class: 'empty' }, 'No team has resolved a ticket yet.');
  rows = [...rows].sort((a, b) => b.efficiency - a.efficiency || b.tickets_completed - a.tickets_completed).slice(0, 8);
  return h('ol', { class: 'rank', 'data-testid': 'top-performers' }, rows.map(t => h('li', {},
    h('div', {}, h('strong', {}, t.name), h('span', { class: 'muted small' }, ` · ${t.zone}`),
      h('div', { class: 'small muted' }, `${fmt.num(t.tickets_completed)} done · rating ${fmt.rating(t.customer_rating)} · SLA ${fmt.pct01(t.sla_met_rate)}`),
      h('div', { class: 'bar', 'aria-hidden': 'true' }, h('i', { style: `width:${Math.min(100, Math.max(0, t.efficiency))}%` }))),
    h('div', { class: 'num', title: 'Efficiency score 0–100' }, h('strong', {}, fmt.pct100(t.efficiency))))));
}
