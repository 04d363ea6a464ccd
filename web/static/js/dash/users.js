// users.js: the hub's users (admin only) — each with role, team and whether they may log in;
// deactivate locks a user out everywhere (sessions end within seconds, refresh tokens are
// revoked, edges drop their cached login when the change syncs), activate lets them back in.
import { api, teamName } from './ctx.js';
import { h, mount, loading, errorBox, toast, confirmDialog } from '../ui.js';
import { items } from '../api.js';
import * as live from '../live.js';

export function render(main) {
  const box = h('div', {}, loading('Loading users…'));
  mount(main,
    h('div', { class: 'panel-head' },
      h('div', {}, h('h1', {}, 'Users'),
        h('p', { class: 'muted small', style: 'margin:0;max-width:70ch' },
          'Everyone who can sign in to the hub, the field portal or an edge node. Deactivating a user ends their sessions everywhere within seconds; create users with “aiff user add”.'))),
    h('section', { class: 'panel' }, box));

  async function refresh() {
    let page;
    try { page = await api.get('/api/users'); } catch (e) { mount(box, errorBox(e, refresh)); throw e; }
    draw(items(page));
  }

  function draw(list) {
    mount(box, h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'user-table' },
      h('caption', { class: 'sr-only' }, 'Users'),
      h('thead', {}, h('tr', {}, ['Username', 'Role', 'Team', 'Email', 'State', ''].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, list.map(u => {
        const self = u.id === api.user?.id;
        return h('tr', { 'data-username': u.username, 'data-state': u.is_active ? 'active' : 'inactive', class: u.is_active ? '' : 'inactive' },
          h('th', { scope: 'row' }, u.username, self ? h('span', { class: 'small muted' }, ' (you)') : null),
          h('td', { 'data-col': 'role' }, u.role),
          h('td', {}, u.team_id ? teamName(u.team_id) : h('span', { class: 'muted' }, '—')),
          h('td', {}, u.email || h('span', { class: 'muted' }, '—')),
          h('td', { 'data-col': 'state' }, h('span', { class: `badge ${u.is_active ? 'e-active' : 'e-revoked'}` }, u.is_active ? 'Active' : 'Deactivated')),
          h('td', { class: 'row-actions' }, self ? null : u.is_active
            ? h('button', { type: 'button', class: 'danger', 'aria-label': `Deactivate ${u.username}`, onclick: () => setActive(u, false) }, 'Deactivate')
            : h('button', { type: 'button', 'aria-label': `Activate ${u.username}`, onclick: () => setActive(u, true) }, 'Activate')));
      })))));
  }

  async function setActive(u, active) {
    if (!active && !(await confirmDialog(`Deactivate ${u.username}? Their sessions end everywhere within seconds, on the hub and on edge nodes, and they cannot sign in until activated again.`, 'Deactivate user', true, 'Cancel'))) return;
    try {
      await api.put(`/api/users/${encodeURIComponent(u.id)}`, { is_active: active });
      toast(`${u.username} ${active ? 'activated' : 'deactivated'}.`);
      await refresh();
    } catch (err) { toast(err.message, 'error'); }
  }

  refresh().catch(() => {});
  return live.subscribe(refresh);
}
