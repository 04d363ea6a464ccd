// conflicts.js: the sync conflicts page — writes that lost a merge (an offline edit overwritten
// by a concurrent one, an edit of a deleted or closed ticket, a stale status move, a change the
// hub refused at sync because the record had moved on), each told in
// plain words next to the ticket's current value, with "Keep current" (dismiss) and "Use this
// value" (apply: the hub writes the lost value back as a new change). Also the nav badge count.
import { api, refs, teamName } from './ctx.js';
import { h, mount, loading, errorBox, fmt, toast, confirmDialog, select } from '../ui.js';
import { STATUS_LABEL, PRIORITY_LABEL } from '../status.js';
import { qs, items } from '../api.js';
import { openTicket } from './drawer.js';
import * as live from '../live.js';

const PAGE = 50;
/** CHANGED is the document event sent after a conflict was resolved here (the badge listens). */
export const CHANGED = 'aiff:conflicts-changed';

const FIELD_LABEL = {
  status: 'status', priority: 'priority', assigned_team: 'team', assigned_to: 'assignee', due_date: 'due date',
  title: 'title', description: 'description', location: 'address', zone: 'zone', skills: 'skills', category: 'category',
  team_id: 'team', is_active: 'active', capacity: 'capacity', shift_start: 'shift start', shift_end: 'shift end',
};
const KIND_LABEL = { concurrent: 'concurrent edits', deleted: 'edit of a deleted record', final: 'ticket already final', transition: 'status move not allowed', refused: 'refused by the hub' };
const RESOLUTION = { dismiss: 'kept the current value', apply: 'used the lost value', withdrawn: 'withdrawn: a later sync made it win after all' };

/** countUnresolved returns the number of open conflict records, or a "500+" string past a page. */
export async function countUnresolved() {
  const page = await api.get(`/api/sync/conflicts${qs({ resolved: 'false', limit: 500 })}`);
  const n = items(page).length;
  return page.next_cursor ? `${n}+` : n;
}

/** formatValue shows a field value the way the rest of the dashboard does. */
export function formatValue(field, v) {
  if (v === undefined) return '—';
  if (v === null || v === '') return '(empty)';
  if (field === 'status') return STATUS_LABEL[v] || String(v);
  if (field === 'priority') return PRIORITY_LABEL[v] || String(v);
  if (field === 'assigned_team' || field === 'team_id') return teamName(v);
  if (/_(at|date)$/.test(field) && typeof v === 'string') return fmt.datetime(v);
  if (Array.isArray(v)) return v.length ? v.join(', ') : '(none)';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** hlcTime turns an HLC reading (wall ms in hex before the first '-') into a Date, or null. */
function hlcTime(s) {
  const ms = parseInt(String(s || '').split('-')[0], 16);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms) : null;
}

/** story tells what happened to the write in one sentence; subject is a node (the ticket link). */
function story(c, subject) {
  const offline = c.origin && c.origin !== 'hub';
  const who = c.actor && c.actor !== 'system' ? `${c.actor}’s` : 'An automatic';
  const field = FIELD_LABEL[c.field] || c.field.replace(/_/g, ' ');
  const outcome = {
    concurrent: 'lost to another change made without seeing it',
    deleted: 'came after it was deleted',
    final: 'came after the ticket was closed or cancelled',
    transition: 'was refused because the ticket had been resolved in the meantime',
    refused: 'was refused by the hub: it no longer fitted the record as changed in the meantime',
  }[c.kind] || 'lost the merge';
  return [
    who, offline ? ' offline ' : ' ', `change of ${field} to `, h('strong', {}, formatValue(c.field, c.value)),
    ' on ', subject, ' ', outcome, ' (', KIND_LABEL[c.kind] || c.kind, ').',
  ];
}

export function render(main) {
  const state = { zone: '', showResolved: false };
  let rows = [], cursor = '', gen = 0;
  const current = new Map(); // entity/id → row as the API shows it now (null: gone)
  const rowErrors = new Map(); // conflict id → message, kept across live redraws
  const busy = new Set();

  const zoneSel = select('zone', [['', 'All zones']], '', { id: 'cz' });
  const resolvedBox = h('input', { type: 'checkbox', name: 'resolved', id: 'cr' });
  zoneSel.addEventListener('change', () => { state.zone = zoneSel.value; reload(); });
  resolvedBox.addEventListener('change', () => { state.showResolved = resolvedBox.checked; reload(); });
  const listBox = h('div', {}, loading('Loading conflicts…'));
  const foot = h('div', { class: 'list-foot' });
  const counter = h('span', { class: 'muted', 'aria-live': 'polite', 'data-testid': 'conflict-count' });

  mount(main,
    h('div', { class: 'panel-head' }, h('div', {}, h('h1', {}, 'Sync conflicts'),
      h('p', { class: 'muted small', style: 'margin:0;max-width:70ch' },
        'Edits made offline on edge nodes or devices that lost when they were merged with other edits. ',
        'Keep the current value, or write the lost value back.'))),
    h('section', { class: 'panel' },
      h('form', { class: 'toolbar', 'aria-label': 'Filter conflicts', onsubmit: e => e.preventDefault() },
        h('div', { class: 'field' }, h('label', { for: 'cz' }, 'Zone'), zoneSel),
        h('div', { class: 'field check' }, h('label', { for: 'cr' }, resolvedBox, ' Show resolved'))),
      listBox, foot));

  function fillZones() {
    const v = zoneSel.value;
    mount(zoneSel, [['', 'All zones'], ...refs.zones.map(z => [z.name, z.name])].map(([k, l]) => h('option', { value: k }, l)));
    zoneSel.value = v;
  }

  function query(cur, limit = PAGE) {
    return `/api/sync/conflicts${qs({ zone: state.zone, resolved: state.showResolved ? '' : 'false', cursor: cur, limit })}`;
  }

  /** loadCurrent fetches the present row of every conflict's record not fetched yet. */
  async function loadCurrent(list, force) {
    const keys = [...new Set(list.map(c => `${c.entity}/${c.entity_id}`))].filter(k => force || !current.has(k));
    await Promise.all(keys.map(async k => {
      const [entity, id] = k.split('/');
      try {
        if (entity === 'ticket') current.set(k, await api.get(`/api/tickets/${encodeURIComponent(id)}`));
        else if (entity === 'team') current.set(k, await api.get(`/api/auth/teams/${encodeURIComponent(id)}`));
        else if (entity === 'zone') current.set(k, refs.zones.find(z => z.id === id || z.name === id) || undefined);
        else current.set(k, undefined);
      } catch (e) {
        if (e.status === 404) current.set(k, null); else throw e;
      }
    }));
  }

  async function reload() {
    const my = ++gen;
    mount(listBox, loading('Loading conflicts…'));
    mount(foot);
    try {
      const page = await api.get(query(''));
      if (my !== gen) return;
      await loadCurrent(items(page), true);
      if (my !== gen) return;
      rows = items(page); cursor = page.next_cursor || '';
      draw();
    } catch (e) {
      if (my === gen) mount(listBox, errorBox(e, reload));
    }
  }

  /** refresh re-reads as many records as are shown (live updates) and the rows they point at. */
  async function refresh() {
    const my = gen;
    await refs.load();
    fillZones();
    const page = await api.get(query('', Math.min(500, Math.max(PAGE, rows.length))));
    await loadCurrent(items(page), true);
    if (my !== gen) return;
    rows = items(page); cursor = page.next_cursor || '';
    draw();
  }

  async function more(btn) {
    btn.disabled = true;
    mount(btn, 'Loading…');
    const my = gen;
    try {
      const page = await api.get(query(cursor));
      await loadCurrent(items(page));
      if (my !== gen) return;
      rows = rows.concat(items(page)); cursor = page.next_cursor || '';
      draw();
    } catch (e) { mount(foot, errorBox(e)); }
  }

  function draw() {
    const open = rows.filter(c => !c.resolved_at).length;
    mount(counter, state.showResolved ? `${rows.length} shown, ${open} unresolved` : `${rows.length} unresolved shown`);
    if (!rows.length) {
      mount(listBox, h('div', { class: 'empty', 'data-testid': 'empty' },
        state.zone ? `No ${state.showResolved ? '' : 'unresolved '}conflicts in ${state.zone}.` : state.showResolved ? 'No conflicts recorded.' : 'No unresolved conflicts. Every offline edit merged cleanly.'));
      mount(foot, counter);
      return;
    }
    mount(listBox, h('ul', { class: 'conflicts', 'data-testid': 'conflict-list' }, rows.map(item)));
    mount(foot, counter, cursor ? h('button', { type: 'button', onclick: e => more(e.currentTarget) }, 'Load more') : h('span', { class: 'muted small' }, 'End of list'));
  }

  function subjectOf(c, row) {
    if (c.entity === 'ticket') {
      const label = row ? row.ticket_number : `ticket ${c.entity_id.slice(-6)}`;
      if (row === null) return h('span', {}, label, ' (deleted)');
      return h('button', { type: 'button', class: 'link', 'data-testid': 'ticket-link', title: row?.title || '',
        onclick: () => openTicket(c.entity_id, { onChange: () => refresh().catch(() => {}) }) }, label);
    }
    if (c.entity === 'team') return h('span', {}, 'team ', h('strong', {}, row?.name || c.entity_id));
    return h('span', {}, `${c.entity} `, h('strong', {}, row?.name || c.entity_id));
  }

  function item(c) {
    const key = `${c.entity}/${c.entity_id}`;
    const row = current.get(key);
    const now = row ? row[c.field] : undefined;
    const same = row && JSON.stringify(now ?? null) === JSON.stringify(c.value ?? null);
    const made = hlcTime(c.hlc);
    const errBox = h('div', { class: 'conflict-error' }, rowErrors.has(c.id) ? errorBox({ message: rowErrors.get(c.id) }) : null);
    const resolved = !!c.resolved_at;
    const actions = resolved
      ? h('p', { class: 'small muted', 'data-testid': 'resolution' }, `Resolved ${fmt.datetime(c.resolved_at)}${c.resolved_by ? ` by ${c.resolved_by}` : ''}: ${RESOLUTION[c.resolution] || c.resolution || 'resolved'}.`)
      : h('div', { class: 'actions', role: 'group', 'aria-label': 'Resolve this conflict' },
        h('button', { type: 'button', disabled: busy.has(c.id), onclick: e => resolve(c, 'dismiss', e.currentTarget, errBox) }, 'Keep current'),
        h('button', { type: 'button', class: 'primary', disabled: busy.has(c.id) || row === null, title: row === null ? 'The record no longer exists' : null,
          onclick: e => resolve(c, 'apply', e.currentTarget, errBox) }, 'Use this value'));
    return h('li', { class: `conflict${resolved ? ' resolved' : ''}`, 'data-id': c.id, 'data-kind': c.kind, 'data-field': c.field, 'data-entity-id': c.entity_id },
      h('p', { class: 'story' }, story(c, subjectOf(c, row))),
      h('div', { class: 'compare' },
        h('div', { class: 'val lost' }, h('div', { class: 'label' }, 'Lost value'), h('div', { class: 'v', 'data-testid': 'value-lost' }, formatValue(c.field, c.value))),
        h('div', { class: 'arrow', 'aria-hidden': 'true' }, '→'),
        h('div', { class: 'val now' }, h('div', { class: 'label' }, 'Current value'),
          h('div', { class: 'v', 'data-testid': 'value-current' }, row === null ? '(record deleted)' : formatValue(c.field, now)),
          same ? h('div', { class: 'small muted' }, 'Same as the lost value') : null)),
      h('p', { class: 'small muted meta' },
        row?.title ? h('span', { class: 'ttitle' }, row.title, ' · ') : null,
        `${c.zone ? `${c.zone} · ` : ''}${c.origin && c.origin !== 'hub' ? `made on ${c.origin}` : 'made on the hub'}`,
        made ? ` at ${fmt.datetime(made.toISOString())}` : '', ` · recorded ${fmt.datetime(c.created_at)}`),
      actions, errBox);
  }

  async function resolve(c, action, btn, errBox) {
    const row = current.get(`${c.entity}/${c.entity_id}`);
    const subject = c.entity === 'ticket' ? (row?.ticket_number || 'the ticket') : `${c.entity} ${row?.name || c.entity_id}`;
    const field = FIELD_LABEL[c.field] || c.field;
    const msg = action === 'apply'
      ? `Set the ${field} of ${subject} to “${formatValue(c.field, c.value)}” (the value ${c.actor} entered offline)? This is a new change and reaches every edge.`
      : `Keep the ${field} of ${subject} as “${row === null ? 'deleted' : formatValue(c.field, row?.[c.field])}” and drop ${c.actor}’s “${formatValue(c.field, c.value)}”?`;
    if (!(await confirmDialog(msg, action === 'apply' ? 'Use this value' : 'Keep current', false, 'Cancel'))) return;
    busy.add(c.id);
    btn.disabled = true;
    rowErrors.delete(c.id);
    mount(errBox);
    try {
      await api.post(`/api/sync/conflicts/${encodeURIComponent(c.id)}/resolve`, { action });
      toast(action === 'apply' ? `${subject}: ${field} set to ${formatValue(c.field, c.value)}.` : `${subject}: kept the current ${field}.`);
      busy.delete(c.id);
      document.dispatchEvent(new CustomEvent(CHANGED));
      await refresh();
    } catch (e) {
      busy.delete(c.id);
      btn.disabled = false;
      rowErrors.set(c.id, e.message);
      mount(errBox, errorBox(e));
    }
  }

  fillZones();
  reload();
  return live.subscribe(refresh);
}
