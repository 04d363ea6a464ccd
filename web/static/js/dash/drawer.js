// drawer.js: the ticket detail drawer — facts, status buttons for legal moves only, assign,
// edit and delete. It calls onChange after every successful write so lists refresh.
import { api, refs, teamName, canEdit } from './ctx.js';
import { h, mount, loading, errorBox, fmt, statusBadge, priorityBadge, overdueBadge, showErrors, clearErrors, confirmDialog, field, select, toast } from '../ui.js';
import { nextStatuses, actionLabel, CATEGORIES, PRIORITIES, PRIORITY_LABEL } from '../status.js';
import { notesSection } from '../notes.js';

let current = null;
// Moves that push work forward get the primary style; stepping back (unassign, reopen) does not.
const FORWARD = ['assigned', 'in_progress', 'resolved', 'closed'];

/** openTicket shows the drawer for ticket id. */
export function openTicket(id, { onChange = () => {} } = {}) {
  closeDrawer();
  const opener = document.activeElement;
  const body = h('div', { class: 'body' }, loading());
  const title = h('h2', { id: 'drawer-title' }, 'Ticket');
  const drawer = h('aside', { class: 'drawer', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'drawer-title', 'data-testid': 'ticket-drawer' },
    h('header', {}, h('div', {}, title), h('button', { type: 'button', class: 'ghost', 'aria-label': 'Close ticket details', onclick: closeDrawer }, '✕')),
    body);
  const backdrop = h('div', { class: 'drawer-backdrop', onclick: closeDrawer });
  const onKey = e => { if (e.key === 'Escape' && !document.querySelector('dialog[open]')) closeDrawer(); };
  document.addEventListener('keydown', onKey);
  document.body.append(backdrop, drawer);
  current = { drawer, backdrop, onKey, opener };
  drawer.querySelector('button').focus();

  async function load() {
    mount(body, loading());
    try { show(await api.get(`/api/tickets/${encodeURIComponent(id)}`)); } catch (e) { mount(body, errorBox(e, load)); }
  }

  function show(t, message) {
    mount(title, `${t.ticket_number} · `, t.title);
    const editable = canEdit() && !['closed', 'cancelled'].includes(t.status);
    const actionErr = h('div');
    const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Change status' },
      nextStatuses(t.status).map(to => {
        const needsTeam = to === 'assigned' && !t.assigned_team && t.status === 'open';
        return h('button', {
          type: 'button', class: to === 'cancelled' ? 'danger' : FORWARD.includes(to) ? 'primary' : '', 'data-to': to,
          disabled: !canEdit() || needsTeam, title: needsTeam ? 'Choose a team below to assign this ticket' : null,
          onclick: e => setStatus(t, to, e.currentTarget, actionErr),
        }, actionLabel(t.status, to));
      }));
    mount(body,
      message ? h('div', { class: 'small', role: 'status', style: 'color:var(--ok);margin-bottom:.5rem' }, message) : null,
      h('div', { class: 'actions' }, statusBadge(t.status), priorityBadge(t.priority), overdueBadge(t)),
      nextStatuses(t.status).length ? [h('h3', {}, 'Move to'), actions, actionErr] : h('p', { class: 'muted' }, 'This ticket is final and cannot change.'),
      h('dl', {},
        h('dt', {}, 'Zone'), h('dd', {}, t.zone),
        h('dt', {}, 'Team'), h('dd', { 'data-testid': 'drawer-team' }, teamName(t.assigned_team)),
        h('dt', {}, 'Assigned to'), h('dd', {}, t.assigned_to || '—'),
        h('dt', {}, 'Category'), h('dd', {}, t.category),
        h('dt', {}, 'Location'), h('dd', {}, t.location || '—', t.lat != null ? h('span', { class: 'muted small' }, ` (${t.lat.toFixed(4)}, ${t.lng.toFixed(4)})`) : null),
        h('dt', {}, 'Due'), h('dd', {}, `${fmt.datetime(t.due_date)} (${fmt.due(t.due_date)})`),
        h('dt', {}, 'Skills'), h('dd', {}, t.skills?.length ? t.skills.join(', ') : '—'),
        h('dt', {}, 'Created'), h('dd', {}, fmt.datetime(t.created_at)),
        h('dt', {}, 'Updated'), h('dd', {}, fmt.datetime(t.updated_at)),
        t.started_at ? [h('dt', {}, 'Started'), h('dd', {}, fmt.datetime(t.started_at))] : null,
        t.resolved_at ? [h('dt', {}, 'Resolved'), h('dd', {}, fmt.datetime(t.resolved_at))] : null,
        t.customer_rating ? [h('dt', {}, 'Rating'), h('dd', {}, `${t.customer_rating} / 5`)] : null),
      t.description ? [h('h3', {}, 'Description'), h('p', { style: 'white-space:pre-wrap' }, t.description)] : null,
      notesSection(api, t.id, { canWrite: canEdit() }),
      editable ? assignSection(t) : null,
      editable ? h('div', { class: 'section' }, h('button', { type: 'button', onclick: () => showEdit(t) }, 'Edit details')) : null,
      canEdit() ? h('div', { class: 'section' }, h('button', { type: 'button', class: 'danger', onclick: () => remove(t) }, 'Delete ticket')) : null);
  }

  async function setStatus(t, to, btn, errBox) {
    btn.disabled = true;
    mount(errBox);
    try {
      const nt = await api.put(`/api/tickets/${encodeURIComponent(t.id)}`, { status: to });
      show(nt, `Status changed to ${nt.status.replace('_', ' ')}.`);
      onChange(nt);
    } catch (e) {
      btn.disabled = false;
      mount(errBox, errorBox(e));
    }
  }

  function assignSection(t) {
    const teams = refs.teams.filter(x => x.is_active !== false);
    const sameZone = teams.filter(x => x.zone === t.zone), other = teams.filter(x => x.zone !== t.zone);
    const sel = h('select', { name: 'team_id', id: 'drawer-assign-team' },
      h('option', { value: '' }, 'Choose a team…'),
      sameZone.length ? h('optgroup', { label: `In ${t.zone}` }, sameZone.map(x => h('option', { value: x.id, selected: x.id === t.assigned_team }, `${x.name} (${x.active_tickets ?? 0}/${x.capacity})`))) : null,
      other.length ? h('optgroup', { label: 'Other zones' }, other.map(x => h('option', { value: x.id, selected: x.id === t.assigned_team }, `${x.name} · ${x.zone}`))) : null);
    const form = h('form', { class: 'section', onsubmit: async e => {
      e.preventDefault();
      clearErrors(form);
      if (!sel.value) return showErrors(form, { field: 'team_id', message: 'Choose a team.' });
      try {
        await api.post('/api/tickets/assign', { ticket_ids: [t.id], team_id: sel.value });
        const nt = await api.get(`/api/tickets/${encodeURIComponent(t.id)}`);
        show(nt, `Assigned to ${teamName(sel.value)}.`);
        onChange(nt);
      } catch (err) { showErrors(form, err); }
    } },
    h('h3', {}, t.assigned_team ? 'Reassign' : 'Assign to team'),
    h('div', { class: 'row' }, field('Team', sel), h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Assign'))));
    return form;
  }

  function showEdit(t) {
    const form = h('form', { novalidate: true, 'aria-label': 'Edit ticket' });
    const due = t.due_date ? toLocalInput(t.due_date) : '';
    mount(form,
      field('Title', h('input', { name: 'title', value: t.title, required: true, maxlength: 200 })),
      field('Description', h('textarea', { name: 'description' }, t.description || '')),
      h('div', { class: 'row' },
        field('Priority', select('priority', PRIORITIES.map(p => [p, PRIORITY_LABEL[p]]), t.priority)),
        field('Category', select('category', CATEGORIES.map(c => [c, c]), t.category))),
      h('div', { class: 'row' },
        field('Zone', select('zone', refs.zones.map(z => [z.name, z.name]), t.zone)),
        field('Due', h('input', { type: 'datetime-local', name: 'due_date', value: due }))),
      field('Location', h('input', { name: 'location', value: t.location || '' })),
      field('Skills', h('input', { name: 'skills', value: (t.skills || []).join(', ') }), 'Comma separated, e.g. fiber, electrical'),
      h('div', { class: 'dlg-actions' },
        h('button', { type: 'button', onclick: () => show(t) }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, 'Save changes')));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      const f = new FormData(form);
      const patch = {};
      for (const k of ['title', 'description', 'priority', 'category', 'zone', 'location']) if ((f.get(k) ?? '') !== (t[k] ?? '')) patch[k] = f.get(k);
      const skills = String(f.get('skills')).split(',').map(s => s.trim()).filter(Boolean);
      if (skills.join(',') !== (t.skills || []).join(',')) patch.skills = skills;
      if (f.get('due_date') && f.get('due_date') !== due) patch.due_date = new Date(f.get('due_date')).toISOString();
      if (!Object.keys(patch).length) return show(t, 'Nothing changed.');
      try {
        const nt = await api.put(`/api/tickets/${encodeURIComponent(t.id)}`, patch);
        show(nt, 'Saved.');
        onChange(nt);
      } catch (err) { showErrors(form, err); }
    });
    mount(body, h('h3', {}, 'Edit ticket'), form);
    form.querySelector('input').focus();
  }

  async function remove(t) {
    if (!(await confirmDialog(`Delete ${t.ticket_number} “${t.title}”? It disappears from every list.`, 'Delete ticket'))) return;
    try {
      await api.del(`/api/tickets/${encodeURIComponent(t.id)}`);
      toast(`${t.ticket_number} deleted.`);
      closeDrawer();
      onChange(null);
    } catch (e) { toast(e.message, 'error'); }
  }

  load();
}

/** closeDrawer closes the open drawer and returns focus to what opened it. */
export function closeDrawer() {
  if (!current) return;
  const { drawer, backdrop, onKey, opener } = current;
  current = null;
  document.removeEventListener('keydown', onKey);
  drawer.remove(); backdrop.remove();
  if (opener && document.contains(opener)) opener.focus();
}

export function toLocalInput(iso) {
  const d = new Date(iso);
  const p = n => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
