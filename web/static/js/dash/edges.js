// edges.js: the regional edge nodes (admin only) — each credential with its zones, creation,
// expiry and revocation; create one (its token is shown once, with the `aiff edge` command
// line), edit its zones, revoke it.
import { api, refs } from './ctx.js';
import { h, mount, loading, errorBox, fmt, showErrors, clearErrors, field, select, toast, confirmDialog } from '../ui.js';
import { items } from '../api.js';
import * as live from '../live.js';

const EXPIRY = [['', 'Never'], ['168h', 'In 7 days'], ['720h', 'In 30 days'], ['2160h', 'In 90 days'], ['8760h', 'In 1 year']];

/** stateOf says whether a credential works: revoked, expired or active. */
function stateOf(e, now = Date.now()) {
  if (e.revoked_at) return 'revoked';
  if (e.expires_at && Date.parse(e.expires_at) <= now) return 'expired';
  return 'active';
}

export function render(main) {
  const box = h('div', {}, loading('Loading edge nodes…'));
  let list = [];
  mount(main,
    h('div', { class: 'panel-head' },
      h('div', {}, h('h1', {}, 'Edge nodes'),
        h('p', { class: 'muted small', style: 'margin:0;max-width:70ch' },
          'Regional nodes that keep serving their zones when the link to the hub is down. Each has its own credential, limited to its zones.')),
      h('button', { type: 'button', class: 'primary', onclick: () => createDialog(refresh) }, '+ New edge node')),
    h('section', { class: 'panel' }, box));

  async function refresh() {
    let page;
    try { page = await api.get('/api/sync/edges'); } catch (e) { mount(box, errorBox(e, refresh)); throw e; }
    list = items(page).sort((a, b) => (a.revoked_at ? 1 : 0) - (b.revoked_at ? 1 : 0) || a.name.localeCompare(b.name));
    draw();
  }

  function draw() {
    if (!list.length) { mount(box, h('p', { class: 'empty', 'data-testid': 'empty' }, 'No edge nodes yet. Create one with “New edge node”.')); return; }
    mount(box, h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'edge-table' },
      h('caption', { class: 'sr-only' }, 'Edge node credentials'),
      h('thead', {}, h('tr', {}, ['Name', 'Zones', 'Created', 'Expires', 'State', ''].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, list.map(e => {
        const st = stateOf(e);
        return h('tr', { 'data-name': e.name, 'data-state': st, class: st === 'active' ? '' : 'inactive' },
          h('th', { scope: 'row' }, h('code', {}, e.name)),
          h('td', { 'data-col': 'zones' }, (e.zones || []).map(z => h('span', { class: 'chip' }, z))),
          h('td', {}, h('span', { title: new Date(e.created_at).toISOString() }, fmt.datetime(e.created_at))),
          h('td', {}, e.expires_at ? h('span', { title: new Date(e.expires_at).toISOString() }, fmt.datetime(e.expires_at)) : h('span', { class: 'muted' }, 'Never')),
          h('td', { 'data-col': 'state' }, st === 'revoked' ? [h('span', { class: 'badge e-revoked' }, 'Revoked'), h('div', { class: 'small muted' }, fmt.datetime(e.revoked_at))]
            : h('span', { class: `badge e-${st}` }, st === 'expired' ? 'Expired' : 'Active')),
          h('td', { class: 'row-actions' }, st === 'revoked' ? null : [
            h('button', { type: 'button', 'aria-label': `Edit zones of ${e.name}`, onclick: () => zonesDialog(e, refresh) }, 'Edit zones'),
            h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${e.name}`, onclick: () => revoke(e) }, 'Revoke')]));
      })))));
  }

  async function revoke(e) {
    if (!(await confirmDialog(`Revoke ${e.name}? It stops syncing at once, deletes the data it holds and keeps its unsynced edits only as dead letters. This cannot be undone.`, 'Revoke edge', true, 'Cancel'))) return;
    try {
      await api.del(`/api/sync/edges/${encodeURIComponent(e.name)}`);
      toast(`${e.name} revoked.`);
      await refresh();
    } catch (err) { toast(err.message, 'error'); }
  }

  refresh().catch(() => {});
  return live.subscribe(refresh);
}

/** zonePicker is a group of zone checkboxes named "zones" (a multi-select that works by keyboard). */
function zonePicker(chosen) {
  return h('fieldset', { class: 'field zone-picker' },
    h('legend', {}, 'Zones'),
    h('div', { class: 'checks' }, refs.zones.map(z => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'zones', value: z.name, checked: chosen.includes(z.name) }), ' ', z.name))));
}

function chosenZones(form) { return [...form.querySelectorAll('input[name=zones]:checked')].map(i => i.value); }

function dialog(titleId, form) {
  const dlg = h('dialog', { 'aria-labelledby': titleId }, form);
  const close = () => { dlg.close(); dlg.remove(); };
  dlg.addEventListener('cancel', e => { e.preventDefault(); close(); });
  document.body.append(dlg);
  dlg.showModal();
  return close;
}

/** createDialog mints a credential, then shows its token once. */
function createDialog(onSaved) {
  const form = h('form', { novalidate: true, 'aria-labelledby': 'edge-new-title', 'data-testid': 'edge-form' },
    h('h2', { id: 'edge-new-title' }, 'New edge node'),
    h('div', { class: 'row', style: 'align-items:flex-start' },
      field('Name', h('input', { name: 'name', required: true, maxlength: 64, placeholder: 'e.g. edge-north-1', autocomplete: 'off', pattern: '[A-Za-z0-9][A-Za-z0-9._-]*' }),
        'Letters, digits, “.”, “_” or “-”. It becomes the node’s id in the sync log.'),
      field('Expires', select('expires_in', EXPIRY, '720h'))),
    zonePicker([]),
    h('div', { class: 'dlg-actions' },
      h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Create credential')));
  const close = dialog('edge-new-title', form);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    clearErrors(form);
    const f = new FormData(form);
    const body = { name: String(f.get('name')).trim(), zones: chosenZones(form), expires_in: f.get('expires_in') };
    if (!body.name) return showErrors(form, { field: 'name', message: 'Give the edge node a name.' });
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(body.name)) return showErrors(form, { field: 'name', message: 'Use letters, digits, “.”, “_” or “-”, starting with a letter or digit.' });
    if (!body.zones.length) return showErrors(form, { field: 'zones', message: 'Choose at least one zone this node serves.' });
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const cred = await api.post('/api/sync/edges', body);
      showToken(form, cred, close);
      onSaved?.().catch(() => {});
    } catch (err) {
      // A 409 without a field is a taken name: say so next to the name.
      showErrors(form, err.status === 409 && !err.field ? { field: 'name', message: err.message } : err);
    } finally { btn.disabled = false; }
  });
  form.querySelector('input[name=name]').focus();
}

/** showToken replaces the form with the one-time token, its copy button and the command line. */
function showToken(form, cred, close) {
  const cmd = `aiff edge --hub ${location.origin} --token ${cred.token}`;
  mount(form,
    h('h2', { id: 'edge-new-title' }, `Edge node ${cred.name} created`),
    h('p', { class: 'notice', role: 'status' }, h('strong', {}, 'Copy the token now. '), 'It is shown only once; the hub keeps only a hash of it. If it is lost, revoke this node and create a new one.'),
    copyField('Token', cred.token, 'edge-token'),
    copyField('Start the edge node with', cmd, 'edge-command'),
    h('p', { class: 'small muted' }, `Serves ${cred.zones.join(', ')}`, cred.expires_at ? `; expires ${fmt.datetime(cred.expires_at)}.` : '; never expires.'),
    h('div', { class: 'dlg-actions' }, h('button', { type: 'button', class: 'primary', onclick: () => close() }, 'Done')));
  form.querySelector('button.copy')?.focus();
}

function copyField(label, text, testid) {
  const out = h('code', { class: 'secret', 'data-testid': testid }, text);
  const done = h('span', { class: 'small muted', 'aria-live': 'polite' });
  const btn = h('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${label.toLowerCase()}`, onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      mount(done, 'Copied.');
    } catch {
      // No clipboard (insecure origin, permission denied): select the text for Ctrl+C.
      const r = document.createRange(); r.selectNodeContents(out);
      const s = getSelection(); s.removeAllRanges(); s.addRange(r);
      mount(done, 'Selected: press Ctrl+C to copy.');
    }
  } }, 'Copy');
  return h('div', { class: 'field' }, h('div', { class: 'label' }, label), h('div', { class: 'copy-row' }, out, btn), done);
}

/** zonesDialog edits the zones an edge serves; the edge moves rows in and out on its next sync. */
function zonesDialog(e, onSaved) {
  const form = h('form', { novalidate: true, 'aria-labelledby': 'edge-zones-title' },
    h('h2', { id: 'edge-zones-title' }, `Zones of ${e.name}`),
    h('p', { class: 'small muted' }, 'The node fetches the rows of added zones and drops those of removed ones on its next sync; its open streams restart now.'),
    zonePicker(e.zones || []),
    h('div', { class: 'dlg-actions' },
      h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Save zones')));
  const close = dialog('edge-zones-title', form);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(form);
    const zones = chosenZones(form);
    if (!zones.length) return showErrors(form, { field: 'zones', message: 'An edge node needs at least one zone. To stop it, revoke it.' });
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const saved = await api.put(`/api/sync/edges/${encodeURIComponent(e.name)}`, { zones });
      toast(`${e.name} now serves ${(saved?.zones || zones).join(', ')}.`);
      close();
      await onSaved?.();
    } catch (err) { showErrors(form, err); } finally { btn.disabled = false; }
  });
  form.querySelector('input[name=zones]')?.focus();
}
