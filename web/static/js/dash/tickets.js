// tickets.js: the ticket list — filters, text search, sorting, cursor "load more", selection and
// manual assignment to a team — and the create-ticket dialog with its map zone picker.
import { api, refs, teamName, canEdit } from './ctx.js';
import { h, mount, loading, errorBox, fmt, statusBadge, priorityBadge, overdueBadge, showErrors, clearErrors, field, select, toast, debounce } from '../ui.js';
import { STATUSES, STATUS_LABEL, PRIORITIES, PRIORITY_LABEL, CATEGORIES, isDone } from '../status.js';
import { renderMap, zoneAt } from '../map.js';
import { qs, items } from '../api.js';
import { openTicket } from './drawer.js';
import * as live from '../live.js';

const SORTS = [['-created_at', 'Newest first'], ['created_at', 'Oldest first'], ['due_date', 'Due soonest'], ['-due_date', 'Due latest'],
  ['-priority', 'Highest priority'], ['priority', 'Lowest priority'], ['-updated_at', 'Recently updated'], ['ticket_number', 'Ticket number']];
const PAGE = 50;

export function render(main) {
  const state = { status: '', priority: '', zone: '', team: '', q: '', sort: '-created_at' };
  let rows = [], cursor = '', total = null, selected = new Set(), gen = 0;

  const statusSel = select('status', [['', 'All statuses'], ...STATUSES.map(s => [s, STATUS_LABEL[s]])], '');
  const prioSel = select('priority', [['', 'All priorities'], ...PRIORITIES.map(p => [p, PRIORITY_LABEL[p]])], '');
  const zoneSel = select('zone', [['', 'All zones']], '');
  const teamSel = select('team', [['', 'All teams']], '');
  const sortSel = select('sort', SORTS, state.sort);
  const search = h('input', { type: 'search', name: 'q', placeholder: 'Number, title, address…', autocomplete: 'off' });
  const filters = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Filter tickets', onsubmit: e => e.preventDefault() },
    h('div', { class: 'field grow' }, h('label', { for: 'tq' }, 'Search'), Object.assign(search, { id: 'tq' })),
    field('Status', statusSel), field('Priority', prioSel), field('Zone', zoneSel), field('Team', teamSel), field('Sort by', sortSel),
    h('div', { class: 'field' }, h('button', { type: 'button', onclick: resetFilters }, 'Clear filters')));
  for (const [el, key] of [[statusSel, 'status'], [prioSel, 'priority'], [zoneSel, 'zone'], [teamSel, 'team'], [sortSel, 'sort']]) {
    el.addEventListener('change', () => { state[key] = el.value; reload(); });
  }
  search.addEventListener('input', debounce(() => { state.q = search.value.trim(); reload(); }, 300));

  const assignTeam = h('select', { name: 'team_id', id: 'assign-team', 'aria-label': 'Team to assign the selected tickets to' });
  const assignBtn = h('button', { type: 'submit', class: 'primary' }, 'Assign');
  const selCount = h('strong', { 'data-testid': 'selected-count' }, '0 selected');
  const assignErr = h('span', { role: 'alert', class: 'field-error' });
  const assignBar = h('form', { class: 'assignbar', hidden: true, 'aria-label': 'Assign selected tickets', onsubmit: assign },
    selCount, h('label', { for: 'assign-team', style: 'margin:0' }, 'Assign to team'), assignTeam, assignBtn,
    h('button', { type: 'button', class: 'link', onclick: () => { selected.clear(); draw(); } }, 'Clear selection'), assignErr);

  const tableBox = h('div', { class: 'table-wrap' });
  const foot = h('div', { class: 'list-foot' });
  const counter = h('span', { class: 'muted', 'aria-live': 'polite', 'data-testid': 'ticket-count' });
  mount(main,
    h('div', { class: 'panel-head' }, h('h1', {}, 'Tickets'),
      canEdit() ? h('button', { type: 'button', class: 'primary', onclick: () => createDialog(() => reload()) }, '+ New ticket') : null),
    h('section', { class: 'panel' }, filters, assignBar, tableBox, foot));

  function fillRefs() {
    const keep = (sel, opts) => { const v = sel.value; mount(sel, opts.map(([k, l]) => h('option', { value: k }, l))); sel.value = v; };
    keep(zoneSel, [['', 'All zones'], ...refs.zones.map(z => [z.name, z.name])]);
    keep(teamSel, [['', 'All teams'], ['none', 'Unassigned'], ...refs.teams.map(t => [t.id, `${t.name} · ${t.zone}`])]);
    keep(assignTeam, [['', 'Choose a team…'], ...refs.teams.filter(t => t.is_active !== false).map(t => [t.id, `${t.name} · ${t.zone} (${t.active_tickets ?? 0}/${t.capacity})`])]);
  }

  function resetFilters() {
    Object.assign(state, { status: '', priority: '', zone: '', team: '', q: '', sort: '-created_at' });
    statusSel.value = prioSel.value = zoneSel.value = teamSel.value = search.value = '';
    sortSel.value = state.sort;
    reload();
  }

  function query(cur, limit = PAGE) {
    return `/api/tickets${qs({ status: state.status, priority: state.priority, zone: state.zone, team: state.team, q: state.q, sort: state.sort, cursor: cur, limit, total: 'true' })}`;
  }

  /** reload fetches the first page for the current filters; stale answers are dropped. */
  async function reload() {
    const my = ++gen;
    selected.clear();
    mount(tableBox, loading('Loading tickets…'));
    mount(foot);
    try {
      const page = await api.get(query(''));
      if (my !== gen) return;
      rows = items(page); cursor = page.next_cursor || ''; total = page.total ?? null;
      draw();
    } catch (e) {
      if (my === gen) mount(tableBox, errorBox(e, reload));
    }
  }

  /** refresh re-reads as many rows as are shown, keeping the selection (live updates). */
  async function refresh() {
    const my = gen;
    await refs.load();
    fillRefs();
    const page = await api.get(query('', Math.min(500, Math.max(PAGE, rows.length))));
    if (my !== gen) return;
    rows = items(page); cursor = page.next_cursor || ''; total = page.total ?? null;
    const ids = new Set(rows.map(r => r.id));
    selected = new Set([...selected].filter(id => ids.has(id)));
    draw();
  }

  async function more(btn) {
    btn.disabled = true;
    mount(btn, 'Loading…');
    const my = gen;
    try {
      const page = await api.get(query(cursor));
      if (my !== gen) return;
      rows = rows.concat(items(page)); cursor = page.next_cursor || ''; total = page.total ?? total;
      draw();
    } catch (e) { mount(foot, errorBox(e)); }
  }

  function draw() {
    assignBar.hidden = !canEdit() || selected.size === 0;
    mount(selCount, `${selected.size} selected`);
    mount(counter, total != null ? `Showing ${rows.length} of ${fmt.num(total)}` : `Showing ${rows.length}`);
    if (!rows.length) {
      const filtered = Object.entries(state).some(([k, v]) => k !== 'sort' && v);
      mount(tableBox, h('div', { class: 'empty', 'data-testid': 'empty' }, filtered ? 'No tickets match these filters. ' : 'No tickets yet. ',
        filtered ? h('button', { type: 'button', class: 'link', onclick: resetFilters }, 'Clear filters') : null));
      mount(foot, counter);
      return;
    }
    const allSel = rows.every(r => selected.has(r.id));
    const head = h('tr', {},
      canEdit() ? h('th', { scope: 'col' }, h('input', { type: 'checkbox', 'aria-label': 'Select all shown tickets', checked: allSel,
        onchange: e => { rows.forEach(r => e.target.checked ? selected.add(r.id) : selected.delete(r.id)); draw(); } })) : null,
      ['Ticket', 'Title', 'Status', 'Priority', 'Zone', 'Team', 'Due'].map(c => h('th', { scope: 'col' }, c)));
    const body = rows.map(t => {
      const open = () => openTicket(t.id, { onChange: () => refresh().catch(() => {}) });
      return h('tr', { class: `clickable${selected.has(t.id) ? ' selected' : ''}`, 'data-id': t.id, 'data-status': t.status, 'data-zone': t.zone, 'data-team': t.assigned_team || '',
        onclick: e => { if (!e.target.closest('input,button')) open(); } },
        canEdit() ? h('td', {}, h('input', { type: 'checkbox', 'aria-label': `Select ${t.ticket_number}`, checked: selected.has(t.id),
          onchange: e => { e.target.checked ? selected.add(t.id) : selected.delete(t.id); draw(); } })) : null,
        h('td', {}, h('button', { type: 'button', class: 'link', onclick: open }, t.ticket_number)),
        h('td', {}, h('span', { class: 'title-cell' }, t.title), t.location ? h('div', { class: 'small muted' }, t.location) : null),
        h('td', {}, statusBadge(t.status)),
        h('td', {}, priorityBadge(t.priority)),
        h('td', {}, t.zone),
        h('td', { 'data-col': 'team' }, t.assigned_team ? teamName(t.assigned_team) : h('span', { class: 'muted' }, 'Unassigned')),
        h('td', {}, isDone(t.status) ? h('span', { class: 'muted small' }, fmt.date(t.due_date))
          : [h('span', { title: fmt.datetime(t.due_date) }, fmt.due(t.due_date)), ' ', overdueBadge(t)]));
    });
    const focused = document.activeElement?.getAttribute('aria-label');
    mount(tableBox, h('table', { 'data-testid': 'ticket-table' }, h('caption', { class: 'sr-only' }, 'Tickets'), h('thead', {}, head), h('tbody', {}, body)));
    if (focused) tableBox.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
    mount(foot, counter, cursor ? h('button', { type: 'button', onclick: e => more(e.currentTarget) }, 'Load more') : h('span', { class: 'muted small' }, 'End of list'));
  }

  async function assign(e) {
    e.preventDefault();
    mount(assignErr);
    if (!assignTeam.value) { mount(assignErr, 'Choose a team first.'); assignTeam.focus(); return; }
    assignBtn.disabled = true;
    try {
      const ids = [...selected];
      await api.post('/api/tickets/assign', { ticket_ids: ids, team_id: assignTeam.value });
      toast(`${ids.length} ticket${ids.length === 1 ? '' : 's'} assigned to ${teamName(assignTeam.value)}.`);
      selected.clear();
      await refresh();
    } catch (err) {
      mount(assignErr, err.message);
    } finally { assignBtn.disabled = false; }
  }

  fillRefs();
  reload();
  refs.load().then(fillRefs).catch(() => {});
  return live.subscribe(refresh);
}

/** createDialog opens the new-ticket form; onCreated(ticket) runs after a successful save. */
export function createDialog(onCreated) {
  let pick = null;
  const zoneSel = select('zone', [['', 'Choose a zone…'], ...refs.zones.map(z => [z.name, z.name])], '', { required: true });
  const mapBox = h('div', { class: 'map', style: 'margin-bottom:.8rem' });
  const latIn = h('input', { type: 'hidden', name: 'lat' }), lngIn = h('input', { type: 'hidden', name: 'lng' });
  const pickInfo = h('div', { class: 'small muted' }, 'Click the map to place the ticket; the zone is chosen for you.');
  const drawMap = () => mount(mapBox, renderMap({ zones: refs.zones, selectedZone: zoneSel.value, pick, label: 'Zone picker: click to place the ticket',
    onPick: p => {
      pick = p; latIn.value = p.lat; lngIn.value = p.lng;
      const z = zoneAt(refs.zones, p);
      if (z) zoneSel.value = z;
      mount(pickInfo, `Location ${p.lat.toFixed(5)}, ${p.lng.toFixed(5)}${z ? ` in ${z}` : ' (outside every zone)'}`);
      drawMap();
    } }));
  zoneSel.addEventListener('change', drawMap);
  const form = h('form', { novalidate: true, method: 'dialog', 'aria-labelledby': 'new-title' },
    h('h2', { id: 'new-title' }, 'New ticket'),
    field('Title', h('input', { name: 'title', required: true, maxlength: 200, placeholder: 'e.g. No signal on Main St' })),
    field('Description', h('textarea', { name: 'description' })),
    h('div', { class: 'row' },
      field('Priority', select('priority', PRIORITIES.map(p => [p, PRIORITY_LABEL[p]]), 'medium')),
      field('Category', select('category', CATEGORIES.map(c => [c, c]), 'repair')),
      field('Zone', zoneSel)),
    mapBox, pickInfo, latIn, lngIn,
    h('div', { class: 'row' },
      field('Address', h('input', { name: 'location', placeholder: 'Street and number' })),
      field('Due (optional)', h('input', { type: 'datetime-local', name: 'due_date' }), 'Default: set by priority')),
    field('Skills', h('input', { name: 'skills', placeholder: 'fiber, electrical' }), 'Comma separated'),
    h('div', { class: 'dlg-actions' },
      h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Create ticket')));
  const dlg = h('dialog', { 'aria-labelledby': 'new-title' }, form);
  function close() { dlg.close(); dlg.remove(); }
  dlg.addEventListener('cancel', e => { e.preventDefault(); close(); });
  form.addEventListener('submit', async e => {
    e.preventDefault();
    clearErrors(form);
    const f = new FormData(form);
    const body = { title: f.get('title').trim(), description: f.get('description'), priority: f.get('priority'), category: f.get('category'),
      zone: f.get('zone'), location: f.get('location'),
      skills: String(f.get('skills')).split(',').map(s => s.trim()).filter(Boolean) };
    if (f.get('lat')) { body.lat = Number(f.get('lat')); body.lng = Number(f.get('lng')); }
    if (f.get('due_date')) body.due_date = new Date(f.get('due_date')).toISOString();
    if (!body.title) return showErrors(form, { field: 'title', message: 'Give the ticket a title.' });
    if (!body.zone) return showErrors(form, { field: 'zone', message: 'Choose a zone (or click the map).' });
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const t = await api.post('/api/tickets', body);
      toast(`${t.ticket_number} created.`);
      close();
      onCreated?.(t);
    } catch (err) { showErrors(form, err); } finally { btn.disabled = false; }
  });
  document.body.append(dlg);
  drawMap();
  dlg.showModal();
}
