// mapview.js: zones, ticket dots coloured by status and team home bases on one SVG map.
import { api, refs } from './ctx.js';
import { h, mount, loading, errorBox, select, fmt } from '../ui.js';
import { ACTIVE, STATUSES, STATUS_LABEL } from '../status.js';
import { renderMap, legend } from '../map.js';
import { qs, items } from '../api.js';
import { openTicket } from './drawer.js';
import * as live from '../live.js';

export function render(main) {
  let tickets = [];
  const zoneSel = select('zone', [['', 'All zones']], '');
  const showSel = select('show', [['active', 'Active tickets'], ['all', 'All statuses']], 'active');
  const mapBox = h('div', { class: 'map' }, loading('Loading map…'));
  const info = h('p', { class: 'muted small', 'aria-live': 'polite' });
  mount(main,
    h('div', { class: 'panel-head' }, h('h1', {}, 'Map'),
      h('div', { class: 'toolbar', style: 'margin:0' },
        h('div', { class: 'field' }, h('label', { for: 'mz' }, 'Zone'), Object.assign(zoneSel, { id: 'mz' })),
        h('div', { class: 'field' }, h('label', { for: 'ms' }, 'Show'), Object.assign(showSel, { id: 'ms' })))),
    h('section', { class: 'panel' }, mapBox, legend(), info));
  zoneSel.addEventListener('change', () => refresh().catch(() => {}));
  showSel.addEventListener('change', () => refresh().catch(() => {}));

  async function refresh() {
    try {
      await refs.load();
      const v = zoneSel.value;
      mount(zoneSel, h('option', { value: '' }, 'All zones'), refs.zones.map(z => h('option', { value: z.name }, z.name)));
      zoneSel.value = v;
      const statuses = showSel.value === 'active' ? ACTIVE : STATUSES;
      const pages = await Promise.all(statuses.map(s => api.get(`/api/tickets${qs({ status: s, zone: zoneSel.value, limit: 500, sort: '-priority' })}`)));
      tickets = pages.flatMap(items);
      draw();
    } catch (e) { mount(mapBox, errorBox(e, refresh)); throw e; }
  }

  function draw() {
    const zones = zoneSel.value ? refs.zones.filter(z => z.name === zoneSel.value) : refs.zones;
    const teams = zoneSel.value ? refs.teams.filter(t => t.zone === zoneSel.value) : refs.teams;
    if (!zones.length && !tickets.length) { mount(mapBox, h('p', { class: 'empty' }, 'No zones defined yet.')); return; }
    mount(mapBox, renderMap({ zones, tickets, teams, selectedZone: zoneSel.value, label: 'Map of zones, tickets and team bases',
      onTicket: t => openTicket(t.id, { onChange: () => refresh().catch(() => {}) }) }));
    const placed = tickets.filter(t => t.lat != null).length;
    const counts = STATUSES.map(s => [s, tickets.filter(t => t.status === s).length]).filter(([, n]) => n).map(([s, n]) => `${fmt.num(n)} ${STATUS_LABEL[s].toLowerCase()}`);
    mount(info, `${fmt.num(placed)} tickets on the map${placed < tickets.length ? ` (${tickets.length - placed} without coordinates)` : ''}${counts.length ? ': ' + counts.join(', ') : ''}. Select a dot for details.`);
  }

  refresh().catch(() => {});
  return live.subscribe(refresh);
}
