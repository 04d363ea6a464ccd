// dashboard.js: the dispatcher dashboard shell — login, top bar, hash routes and live refresh.
import { api, refs } from './dash/ctx.js';
import { h, mount, showErrors, clearErrors, field, fmt } from './ui.js';
import * as live from './live.js';
import * as overview from './dash/overview.js';
import * as tickets from './dash/tickets.js';
import * as teams from './dash/teams.js';
import * as mapview from './dash/mapview.js';
import * as conflicts from './dash/conflicts.js';
import * as edges from './dash/edges.js';
import * as users from './dash/users.js';
import { closeDrawer } from './dash/drawer.js';

// roles, when set, limits a page to those roles: it is neither linked nor routed for others
// (the hub refuses their requests anyway).
const ROUTES = {
  overview: { label: 'Overview', view: overview },
  tickets: { label: 'Tickets', view: tickets },
  map: { label: 'Map', view: mapview },
  teams: { label: 'Teams', view: teams },
  conflicts: { label: 'Conflicts', view: conflicts, roles: ['admin', 'dispatcher'] },
  edges: { label: 'Edges', view: edges, roles: ['admin'] },
  users: { label: 'Users', view: users, roles: ['admin'] },
};
const allowed = r => !r.roles || r.roles.includes(api.user?.role);
const LOGO = () => h('svg', { viewBox: '0 0 32 32', 'aria-hidden': 'true' },
  h('circle', { cx: 16, cy: 16, r: 15, fill: '#1f5fbf', stroke: '#fff', 'stroke-width': 2 }),
  h('path', { d: 'M9 22 L16 8 L23 22 M12 17 H20', stroke: '#fff', 'stroke-width': 3, fill: 'none', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }));

const app = document.getElementById('app');
let unsubscribe = null;
let shellOff = []; // what showApp subscribed for the whole session (the nav badge)

api.onLogout = () => { live.stop(); closeDrawer(); showLogin('You have been signed out.'); };

function showLogin(notice) {
  if (unsubscribe) { unsubscribe(); unsubscribe = null; }
  shellOff.forEach(off => off()); shellOff = [];
  document.title = 'Sign in · AIFF';
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'login', novalidate: true, 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, LOGO(), 'AIFF dispatch'),
    h('p', { class: 'muted' }, 'Sign in to manage tickets and field teams.'),
    notice ? h('p', { class: 'small muted', role: 'status' }, notice) : null,
    field('Username', user), field('Password', pass), btn,
    h('p', { class: 'small muted', style: 'margin-top:1rem' }, 'Field staff: use the ', h('a', { href: '/field' }, 'field portal'), '.'));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    clearErrors(form);
    if (!user.value.trim()) return showErrors(form, { field: 'username', message: 'Enter your username.' });
    if (!pass.value) return showErrors(form, { field: 'password', message: 'Enter your password.' });
    btn.disabled = true; mount(btn, 'Signing in…');
    try {
      const u = await api.login(user.value.trim(), pass.value);
      if (u?.role === 'field') {
        await api.logout();
        return showErrors(form, { message: 'Field accounts use the field portal at /field.' });
      }
      showApp();
    } catch (err) {
      const msg = err.status === 401 ? 'Wrong username or password.' : err.message;
      showErrors(form, { field: err.field === 'username' || err.field === 'password' ? err.field : '', message: msg });
      pass.value = '';
    } finally { btn.disabled = false; mount(btn, 'Sign in'); }
  });
  mount(app, h('div', { class: 'login-wrap' }, form));
  user.focus();
}

function showApp() {
  const u = api.user || {};
  const badge = h('span', { class: 'nav-badge', hidden: true, 'data-testid': 'conflict-badge' });
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' },
    Object.entries(ROUTES).filter(([, r]) => allowed(r)).map(([k, r]) => h('a', { href: `#${k}`, 'data-route': k }, r.label, k === 'conflicts' ? badge : null)));
  const liveText = h('span', {}, 'Live');
  const liveBox = h('span', { class: 'live', title: 'Data refreshes every 15 seconds' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), liveText);
  const main = h('main', { id: 'main', tabindex: -1 });
  mount(app,
    h('a', { href: '#main', class: 'sr-only', onclick: e => { e.preventDefault(); main.focus(); } }, 'Skip to content'),
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, LOGO(), h('span', {}, 'AIFF')), nav,
      h('div', { class: 'who' }, liveBox,
        h('button', { type: 'button', title: 'Refresh now', 'aria-label': 'Refresh now', onclick: () => live.refreshNow() }, '⟳'),
        h('span', { class: 'hide-sm', 'data-testid': 'whoami' }, `${u.username || ''} · ${u.role || ''}`),
        h('button', { type: 'button', onclick: () => api.logout() }, 'Sign out'))),
    main);
  if (allowed(ROUTES.conflicts)) {
    // The unresolved-conflicts count rides on the live refresh like every view's data.
    const count = async () => {
      const n = await conflicts.countUnresolved();
      badge.hidden = !n;
      mount(badge, String(n));
      badge.setAttribute('aria-label', `${n} unresolved`);
      badge.title = `${n} unresolved sync conflict${n === 1 ? '' : 's'}`;
    };
    const onChanged = () => count().catch(() => {});
    document.addEventListener(conflicts.CHANGED, onChanged);
    shellOff.push(live.subscribe(count), () => document.removeEventListener(conflicts.CHANGED, onChanged));
    count().catch(() => {});
  }
  live.onStatus(({ at, ok }) => {
    liveBox.classList.toggle('stale', !ok);
    mount(liveText, ok ? `Updated ${fmt.time(at)}` : `Update failed ${fmt.time(at)}`);
  });

  function route() {
    let key = (location.hash.slice(1) || 'overview').split('?')[0];
    if (!ROUTES[key] || !allowed(ROUTES[key])) key = 'overview';
    const r = ROUTES[key];
    nav.querySelectorAll('a').forEach(a => a.dataset.route === key ? a.setAttribute('aria-current', 'page') : a.removeAttribute('aria-current'));
    document.title = `${r.label} · AIFF`;
    closeDrawer();
    if (unsubscribe) unsubscribe();
    unsubscribe = r.view.render(main);
  }
  window.onhashchange = () => { if (api.session) route(); };
  refs.load().catch(() => {}).finally(() => { route(); live.start(15000); });
}

if (api.session) showApp(); else showLogin();
