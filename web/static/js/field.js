// field.js: the field portal (role field) — my team's tickets by due date, big status buttons,
// and offline use: the last ticket list is kept locally, status changes made offline go to the
// outbox and are replayed in order when the network is back.
import { Api, ApiError, qs, items } from './api.js';
import { h, mount, loading, errorBox, fmt, statusBadge, priorityBadge, overdueBadge, showErrors, clearErrors, field, toast } from './ui.js';
import { isDone, isOverdue, STATUS_LABEL } from './status.js';
import * as outbox from './outbox.js';
import { notesSection } from './notes.js';

// The field device is personal and must reopen offline, so its session lives in localStorage.
const api = new Api(localStorage);
const CACHE = 'aiff.field.tickets';
const app = document.getElementById('app');
const POLL = 30000;
const RECENT_DONE = 30; // finished jobs kept on the "All" tab

// The moves a field worker makes, in the order the buttons appear.
const FIELD_ACTIONS = {
  assigned: [['in_progress', 'Start work', 'primary']],
  in_progress: [['resolved', 'Resolve', 'primary'], ['on_hold', 'Put on hold', '']],
  on_hold: [['in_progress', 'Resume work', 'primary']],
};

let tickets = [];          // last known list, with pending outbox changes applied
let pendingCount = 0;
let timer = null;
let showAll = false;

api.onLogout = () => { stopPolling(); showLogin('You have been signed out.'); };

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js', { scope: '/field' }).catch(err => console.warn('service worker not registered', err));
}

// ---------- local cache ----------
function loadCache() { try { return JSON.parse(localStorage.getItem(CACHE)) || null; } catch { return null; } }
function saveCache(list) { localStorage.setItem(CACHE, JSON.stringify({ at: new Date().toISOString(), user: api.user?.id, tickets: list })); }

/** applyPending replays queued status changes onto a server list so the UI shows what the user did. */
async function applyPending(list) {
  const ops = await outbox.list();
  const byId = new Map(list.map(t => [t.id, { ...t, _pending: false }]));
  for (const op of ops) {
    const t = byId.get(op.ticket_id);
    if (t) byId.set(t.id, { ...t, ...op.patch, _pending: true });
  }
  return [...byId.values()];
}

// ---------- login ----------
function showLogin(notice) {
  document.title = 'Sign in · AIFF field';
  const user = h('input', { name: 'username', autocomplete: 'username', autocapitalize: 'none', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'login', novalidate: true, 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'AIFF field'),
    h('p', { class: 'muted' }, 'Your team’s jobs, online or offline.'),
    notice ? h('p', { class: 'small muted', role: 'status' }, notice) : null,
    field('Username', user), field('Password', pass), btn);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    clearErrors(form);
    if (!user.value.trim()) return showErrors(form, { field: 'username', message: 'Enter your username.' });
    if (!pass.value) return showErrors(form, { field: 'password', message: 'Enter your password.' });
    btn.disabled = true; mount(btn, 'Signing in…');
    try {
      const u = await api.login(user.value.trim(), pass.value);
      if (u?.id !== loadCache()?.user) localStorage.removeItem(CACHE);
      showApp();
    } catch (err) {
      showErrors(form, { message: err.status === 401 ? 'Wrong username or password.' : err.message });
      pass.value = '';
    } finally { btn.disabled = false; mount(btn, 'Sign in'); }
  });
  mount(app, h('div', { class: 'login-wrap' }, form));
  user.focus();
}

// ---------- shell ----------
const netPill = h('span', { class: 'pill', 'data-testid': 'net' });
const queuePill = h('span', { class: 'pill queue', 'data-testid': 'outbox-count', hidden: true });
const listBox = h('div', { class: 'cards' });
const detailBox = h('div');
const banner = h('div');
const lastSync = h('p', { class: 'small muted center', 'aria-live': 'polite' });

function showApp() {
  const u = api.user || {};
  document.title = 'My jobs · AIFF field';
  mount(app,
    h('header', { class: 'fbar' },
      h('div', {}, h('strong', {}, 'My jobs'), whoami),
      h('div', { class: 'fbar-right' }, netPill, queuePill,
        h('button', { type: 'button', onclick: () => api.logout() }, 'Sign out'))),
    h('main', { class: 'fmain', id: 'main' }, banner, detailBox, listBox, lastSync));
  updateNet();
  outbox.count().then(setQueue);
  teamLabel();
  const cache = loadCache();
  if (cache?.user === u.id && cache.tickets) { tickets = cache.tickets; mount(lastSync, `Last updated ${fmt.datetime(cache.at)}`); route(); }
  else mount(listBox, loading('Loading your jobs…'));
  sync();
  startPolling();
}

const whoami = h('div', { class: 'small', 'data-testid': 'whoami' });

/** teamLabel shows "user · team name"; the name comes from the team list when the role may read it. */
async function teamLabel() {
  const u = api.user || {};
  const key = `aiff.field.team.${u.team_id}`;
  mount(whoami, u.username || '', localStorage.getItem(key) ? ` · ${localStorage.getItem(key)}` : '');
  if (!u.team_id) return;
  try {
    const team = items(await api.get('/api/auth/teams')).find(t => t.id === u.team_id);
    if (team) { localStorage.setItem(key, team.name); mount(whoami, u.username, ` · ${team.name}`); }
  } catch { /* the team name is a nicety; the list works without it */ }
}

function setQueue(n) {
  pendingCount = n;
  queuePill.hidden = n === 0;
  mount(queuePill, `${n} change${n === 1 ? '' : 's'} waiting to sync`);
}
outbox.onChange(setQueue);

function updateNet() {
  const on = navigator.onLine;
  netPill.className = `pill ${on ? 'on' : 'off'}`;
  mount(netPill, on ? 'Online' : 'Offline');
}
window.addEventListener('online', () => { updateNet(); sync(); });
window.addEventListener('offline', updateNet);

function startPolling() { stopPolling(); timer = setInterval(() => { if (document.visibilityState === 'visible') sync(); }, POLL); }
function stopPolling() { if (timer) clearInterval(timer); timer = null; }

/** sync replays the outbox, then reloads the team's tickets. Safe to call any time. */
async function sync() {
  if (!api.session) return;
  mount(banner);
  try {
    const r = await outbox.replay(op => api.put(`/api/tickets/${encodeURIComponent(op.ticket_id)}`, op.patch));
    if (r.sent) toast(`${r.sent} queued change${r.sent === 1 ? '' : 's'} synced.`);
    for (const f of r.failed) mount(banner, h('div', { class: 'form-error', role: 'alert' }, `${f.op.ticket_number}: ${STATUS_LABEL[f.op.patch.status] || 'change'} was not accepted — ${f.error.message}`));
    // Open work first and in full; of the finished jobs only the most recent, for reference.
    const [active, done] = await Promise.all([
      api.get(`/api/tickets${qs({ status: 'assigned,in_progress,on_hold', sort: 'due_date', limit: 500 })}`),
      api.get(`/api/tickets${qs({ status: 'resolved,closed,cancelled', sort: '-updated_at', limit: RECENT_DONE })}`),
    ]);
    tickets = await applyPending([...items(active), ...items(done)]);
    saveCache(tickets);
    mount(lastSync, `Updated ${fmt.time(new Date())}`);
    route();
  } catch (e) {
    if (e.offline) {
      updateNet();
      if (!tickets.length) mount(listBox, h('p', { class: 'empty' }, 'You are offline and no jobs are stored on this device yet.'));
      else mount(lastSync, `Offline — showing jobs from ${fmt.datetime(loadCache()?.at)}`);
    } else if (e.status !== 401) {
      mount(banner, errorBox(e, sync));
    }
  }
}

// ---------- routes ----------
window.addEventListener('hashchange', route);
function route() {
  if (!api.session) return;
  const m = location.hash.match(/^#t\/(.+)$/);
  if (m) { listBox.hidden = true; showDetail(decodeURIComponent(m[1])); }
  else { mount(detailBox); listBox.hidden = false; drawList(); }
}

function sortByDue(a, b) { return Date.parse(a.due_date) - Date.parse(b.due_date); }

function drawList() {
  const active = tickets.filter(t => !isDone(t.status)).sort(sortByDue);
  const done = tickets.filter(t => isDone(t.status)).sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at));
  const shown = showAll ? [...active, ...done] : active;
  const overdue = active.filter(t => isOverdue(t)).length;
  mount(listBox,
    h('div', { class: 'fhead' },
      h('h1', {}, showAll ? 'Open and recent jobs' : 'To do', ' ', h('span', { class: 'muted small' }, `(${shown.length})`)),
      overdue ? h('span', { class: 'badge overdue' }, `${overdue} overdue`) : null),
    h('div', { class: 'seg', role: 'group', 'aria-label': 'Which jobs to show' },
      h('button', { type: 'button', 'aria-pressed': String(!showAll), onclick: () => { showAll = false; drawList(); } }, 'To do'),
      h('button', { type: 'button', 'aria-pressed': String(showAll), onclick: () => { showAll = true; drawList(); } }, 'All')),
    shown.length ? h('ul', { class: 'card-list', 'data-testid': 'job-list' }, shown.map(card))
      : h('p', { class: 'empty', 'data-testid': 'empty' }, showAll ? 'Your team has no jobs.' : 'Nothing to do right now. New jobs appear here when a dispatcher assigns them to your team.'));
}

function card(t) {
  return h('li', {},
    h('a', { class: `card${isOverdue(t) ? ' late' : ''}`, href: `#t/${encodeURIComponent(t.id)}`, 'data-id': t.id, 'data-team': t.assigned_team || '', 'data-status': t.status },
      h('div', { class: 'card-top' }, h('span', { class: 'num' }, t.ticket_number), statusBadge(t.status), priorityBadge(t.priority), overdueBadge(t),
        t._pending ? h('span', { class: 'badge pending' }, 'Not synced') : null),
      h('div', { class: 'card-title' }, t.title),
      h('div', { class: 'small muted' }, t.location || t.zone),
      h('div', { class: `small ${isOverdue(t) ? 'late-text' : 'muted'}` }, `Due ${fmt.datetime(t.due_date)} (${fmt.due(t.due_date)})`)));
}

function showDetail(id) {
  const t = tickets.find(x => x.id === id);
  if (!t) { mount(detailBox, h('p', { class: 'empty' }, 'This job is not on your list. ', h('a', { href: '#' }, 'Back to my jobs'))); return; }
  const err = h('div');
  const acts = FIELD_ACTIONS[t.status] || [];
  mount(detailBox,
    h('a', { href: '#', class: 'back' }, '← My jobs'),
    h('article', { class: 'detail', 'data-testid': 'job-detail', 'data-status': t.status },
      h('div', { class: 'card-top' }, h('span', { class: 'num' }, t.ticket_number), statusBadge(t.status), priorityBadge(t.priority), overdueBadge(t),
        t._pending ? h('span', { class: 'badge pending' }, 'Not synced') : null),
      h('h1', {}, t.title),
      h('dl', {},
        h('dt', {}, 'Address'), h('dd', {}, t.location || '—'),
        h('dt', {}, 'Zone'), h('dd', {}, t.zone),
        h('dt', {}, 'Due'), h('dd', {}, `${fmt.datetime(t.due_date)} (${fmt.due(t.due_date)})`),
        h('dt', {}, 'Category'), h('dd', {}, t.category),
        t.skills?.length ? [h('dt', {}, 'Skills'), h('dd', {}, t.skills.join(', '))] : null,
        t.lat != null ? [h('dt', {}, 'Coordinates'), h('dd', {}, `${t.lat.toFixed(5)}, ${t.lng.toFixed(5)}`)] : null),
      t.description ? h('p', { class: 'desc' }, t.description) : null,
      err,
      acts.length ? h('div', { class: 'big-actions' }, acts.map(([to, label, cls]) =>
        h('button', { type: 'button', class: `big ${cls}`, 'data-to': to, onclick: e => change(t, to, e.currentTarget, err) }, label)))
        : h('p', { class: 'muted' }, isDone(t.status) ? 'This job is finished.' : 'Waiting for a dispatcher to assign this job.'),
      notesSection(api, t.id, { canWrite: true })));
  detailBox.querySelector('h1')?.setAttribute('tabindex', '-1');
  detailBox.querySelector('h1')?.focus();
}

/**
 * change moves ticket t to status to. Online with an empty outbox it goes straight to the
 * server; offline (or with older changes still queued, to keep their order) it is queued.
 */
async function change(t, to, btn, errBox) {
  btn.disabled = true;
  mount(errBox);
  const patch = { status: to };
  const local = () => { tickets = tickets.map(x => (x.id === t.id ? { ...x, ...patch, _pending: true } : x)); saveCache(tickets); };
  try {
    if (!navigator.onLine || pendingCount > 0) throw new ApiError(0);
    const nt = await api.put(`/api/tickets/${encodeURIComponent(t.id)}`, patch);
    tickets = tickets.map(x => (x.id === t.id ? nt : x));
    saveCache(tickets);
    toast(`${t.ticket_number}: ${STATUS_LABEL[nt.status]}`);
    route();
  } catch (e) {
    if (e.offline) {
      await outbox.enqueue({ ticket_id: t.id, ticket_number: t.ticket_number, patch });
      local();
      toast(`Saved on this device. ${t.ticket_number} will sync when you are back online.`);
      route();
      if (navigator.onLine) sync();
    } else {
      btn.disabled = false;
      mount(errBox, errorBox(e));
    }
  }
}

if (api.session) showApp(); else showLogin();
