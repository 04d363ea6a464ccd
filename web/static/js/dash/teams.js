// teams.js: the teams page — every team with its load and performance, create, edit and delete.
import { api, refs, canEdit } from './ctx.js';
import { h, mount, loading, errorBox, fmt, showErrors, clearErrors, field, select, toast, confirmDialog } from '../ui.js';
import * as live from '../live.js';

const TEAM_STATUS = [['available', 'Available'], ['busy', 'Busy'], ['offline', 'Offline']];

export function render(main) {
  const box = h('div', {}, loading('Loading teams…'));
  mount(main,
    h('div', { class: 'panel-head' }, h('h1', {}, 'Teams'),
      canEdit() ? h('button', { type: 'button', class: 'primary', onclick: () => teamDialog(null, refresh) }, '+ New team') : null),
    h('section', { class: 'panel' }, box));

  async function refresh() {
    try { await refs.load(); } catch (e) { mount(box, errorBox(e, refresh)); throw e; }
    draw();
  }

  function draw() {
    const teams = refs.teams;
    if (!teams.length) { mount(box, h('p', { class: 'empty' }, 'No teams yet. ', canEdit() ? 'Create the first one with “New team”.' : '')); return; }
    mount(box, h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'team-table' },
      h('thead', {}, h('tr', {}, ['Team', 'Zone', 'Status', 'Load', 'Shift', 'Skills', 'Done', 'Rating', 'Completion', ''].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, teams.map(t => h('tr', { 'data-id': t.id },
        h('th', { scope: 'row' }, t.name, t.is_active === false ? h('span', { class: 'muted small' }, ' (inactive)') : null,
          t.description ? h('div', { class: 'small muted', style: 'font-weight:normal' }, t.description) : null),
        h('td', {}, t.zone),
        h('td', {}, h('span', { class: `badge t-${t.status}` }, t.status)),
        h('td', { class: 'num' }, `${t.active_tickets ?? 0} / ${t.capacity}`),
        h('td', {}, `${t.shift_start}–${t.shift_end}`),
        h('td', { class: 'small' }, t.skills?.length ? t.skills.join(', ') : '—'),
        h('td', { class: 'num' }, fmt.num(t.tickets_completed)),
        h('td', { class: 'num' }, fmt.rating(t.customer_rating)),
        h('td', { class: 'num' }, fmt.pct100(t.completion_rate)),
        h('td', {}, canEdit() ? h('button', { type: 'button', 'aria-label': `Edit team ${t.name}`, onclick: () => teamDialog(t, refresh) }, 'Edit') : null)))))));
  }

  refresh().catch(() => {});
  return live.subscribe(refresh);
}

/** teamDialog creates (team null) or edits a team; onSaved runs after a successful write. */
export function teamDialog(team, onSaved) {
  const t = team || { name: '', zone: '', description: '', skills: [], capacity: 5, shift_start: '08:00', shift_end: '17:00', status: 'available', is_active: true };
  const title = team ? `Edit team ${team.name}` : 'New team';
  const form = h('form', { novalidate: true, 'aria-labelledby': 'team-dlg-title' },
    h('h2', { id: 'team-dlg-title' }, title),
    h('div', { class: 'row' },
      field('Name', h('input', { name: 'name', value: t.name, required: true, maxlength: 100 })),
      field('Zone', select('zone', [['', 'Choose a zone…'], ...refs.zones.map(z => [z.name, z.name])], t.zone))),
    field('Description', h('input', { name: 'description', value: t.description || '' })),
    h('div', { class: 'row' },
      field('Capacity', h('input', { type: 'number', name: 'capacity', min: 1, max: 100, value: t.capacity })),
      field('Shift start', h('input', { type: 'time', name: 'shift_start', value: t.shift_start })),
      field('Shift end', h('input', { type: 'time', name: 'shift_end', value: t.shift_end })),
      field('Status', select('status', TEAM_STATUS, t.status))),
    field('Skills', h('input', { name: 'skills', value: (t.skills || []).join(', ') }), 'Comma separated, e.g. fiber, electrical'),
    h('div', { class: 'field' }, h('label', {}, h('input', { type: 'checkbox', name: 'is_active', checked: t.is_active !== false }), ' Active (can receive tickets)')),
    h('div', { class: 'dlg-actions' },
      team && canEdit() ? h('button', { type: 'button', class: 'danger', style: 'margin-right:auto', onclick: remove }, 'Delete team') : null,
      h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, team ? 'Save changes' : 'Create team')));
  const dlg = h('dialog', { 'aria-labelledby': 'team-dlg-title' }, form);
  function close() { dlg.close(); dlg.remove(); }
  dlg.addEventListener('cancel', e => { e.preventDefault(); close(); });

  form.addEventListener('submit', async e => {
    e.preventDefault();
    clearErrors(form);
    const f = new FormData(form);
    const body = {
      name: f.get('name').trim(), zone: f.get('zone'), description: f.get('description'),
      capacity: Number(f.get('capacity')), shift_start: f.get('shift_start'), shift_end: f.get('shift_end'), status: f.get('status'),
      skills: String(f.get('skills')).split(',').map(s => s.trim()).filter(Boolean), is_active: f.get('is_active') === 'on',
    };
    if (!body.name) return showErrors(form, { field: 'name', message: 'Give the team a name.' });
    if (!body.zone) return showErrors(form, { field: 'zone', message: 'Choose the zone this team works in.' });
    try {
      const saved = team ? await api.put(`/api/auth/teams/${encodeURIComponent(team.id)}`, body) : await api.post('/api/auth/teams', body);
      toast(team ? `Team ${saved?.name || body.name} saved.` : `Team ${saved?.name || body.name} created.`);
      close();
      await onSaved?.();
    } catch (err) { showErrors(form, err); }
  });

  async function remove() {
    if (!(await confirmDialog(`Delete team ${team.name}? Teams with active tickets cannot be deleted.`, 'Delete team'))) return;
    try {
      await api.del(`/api/auth/teams/${encodeURIComponent(team.id)}`);
      toast(`Team ${team.name} deleted.`);
      close();
      await onSaved?.();
    } catch (err) { showErrors(form, err); }
  }

  document.body.append(dlg);
  dlg.showModal();
}
