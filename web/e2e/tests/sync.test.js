// Sync pages of the dashboard, end to end: the dispatcher resolves real merge conflicts (made
// here by two edge credentials pushing concurrent offline edits of one ticket) both ways, and
// the admin creates, edits and revokes an edge credential.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launch, desktopPage, watch, shot, waitFor, Client, slug, PASSWORD } from '../lib/harness.js';
import { EdgeClient, fieldClock } from '../lib/sync.js';

async function signIn(page, base, username) {
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('whoami').waitFor();
}

/** confirm answers the open confirmation dialog with the button named label. */
async function confirm(page, label) {
  const dlg = page.locator('dialog[open]');
  await dlg.waitFor();
  await dlg.getByRole('button', { name: label, exact: true }).click();
  await dlg.waitFor({ state: 'detached' });
}

describe('sync conflicts and edge nodes', () => {
  let server, browser, admin, dispatcher, zone, ticket, edgeA, edgeB, actor;

  before(async () => {
    server = await startDemo();
    admin = await new Client(server.base).login('admin');
    dispatcher = await new Client(server.base).login('dispatcher');
    browser = await launch();

    // Two offline edges of one zone edit the same in-progress ticket without seeing each
    // other: B (later clock) resolves it and raises the priority to critical, A (earlier
    // clock, pushed last) put it on hold at high priority. Merge keeps B's values and records
    // A's status and priority as lost to a concurrent write.
    const zones = (await admin.get('/api/zones')).items.map(z => z.name).sort();
    zone = zones[zones.length - 1]; // the demo's own edges serve the first zones
    actor = `field-${slug(zone)}-1`;
    const mint = async name => (await admin.post('/api/sync/edges', { name, zones: [zone], expires_in: '24h' }));
    edgeA = new EdgeClient(server.base, await mint('e2e-offline-a'));
    edgeB = new EdgeClient(server.base, await mint('e2e-offline-b'));
    const list = await dispatcher.get(`/api/tickets?zone=${encodeURIComponent(zone)}&status=in_progress&limit=1`);
    ticket = list.items[0];
    assert.ok(ticket, `the demo has an in-progress ticket in ${zone}`);
    const history = await edgeA.history('ticket', ticket.id);
    const base = { status: fieldClock(history, 'status'), priority: fieldClock(history, 'priority') };
    assert.ok(base.status && base.priority, 'the ticket history has clocks for status and priority');
    const now = Date.now();
    await edgeB.edit({ ticket: ticket.id, zone, actor: `field-${slug(zone)}-2`, patch: { status: 'resolved', priority: 'critical' }, base, wallMs: now - 30_000 });
    await edgeA.edit({ ticket: ticket.id, zone, actor, patch: { status: 'on_hold', priority: 'high' }, base, wallMs: now - 60_000 });
    const open = (await dispatcher.get('/api/sync/conflicts?resolved=false')).items.filter(c => c.entity_id === ticket.id);
    assert.deepEqual(open.map(c => [c.field, c.kind, c.value]).sort(), [['priority', 'concurrent', 'high'], ['status', 'concurrent', 'on_hold']]);
    ticket = await dispatcher.get(`/api/tickets/${ticket.id}`);
    assert.equal(ticket.status, 'resolved');
    assert.equal(ticket.priority, 'critical');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('dispatcher sees the conflicts, explained, and resolves them both ways', async () => {
    const { ctx, page } = await desktopPage(browser);
    const errors = watch(page);
    await signIn(page, server.base, 'dispatcher');

    // The nav offers Conflicts with the unresolved count, and no Edges page.
    const badge = page.getByTestId('conflict-badge');
    await waitFor(async () => (await badge.isVisible()) && (await badge.innerText()) === '2', { what: 'conflict badge "2"' });
    assert.equal(await page.locator('nav a[data-route=edges]').count(), 0, 'dispatchers get no Edges link');
    await page.goto(`${server.base}/#edges`);
    await page.locator('[data-kpi=total]').waitFor();
    assert.equal(await page.locator('h1', { hasText: 'Edge nodes' }).count(), 0, '#edges is not routed for dispatchers');

    await page.locator('nav a[data-route=conflicts]').click();
    const statusRow = page.locator(`li.conflict[data-entity-id="${ticket.id}"][data-field=status]`);
    const prioRow = page.locator(`li.conflict[data-entity-id="${ticket.id}"][data-field=priority]`);
    await statusRow.waitFor();
    const story = await statusRow.locator('.story').innerText();
    assert.match(story, new RegExp(`${actor}’s offline change of status to On hold on ${ticket.ticket_number} lost to another change made without seeing it \\(concurrent edits\\)`));
    assert.equal(await statusRow.getByTestId('value-lost').innerText(), 'On hold');
    assert.equal(await statusRow.getByTestId('value-current').innerText(), 'Resolved');
    assert.match(await statusRow.locator('.meta').innerText(), new RegExp(`${zone} · made on e2e-offline-a`));
    assert.equal(await prioRow.getByTestId('value-lost').innerText(), 'High');
    assert.equal(await prioRow.getByTestId('value-current').innerText(), 'Critical');
    await shot(page, 'sync-01-conflicts');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'sync-01-conflicts-phone');
    await page.setViewportSize({ width: 1400, height: 900 });

    // The zone filter: another zone has none of these, the conflicts' zone has both.
    const other = (await dispatcher.get('/api/zones')).items.map(z => z.name).find(z => z !== zone);
    await page.getByLabel('Zone').selectOption(other);
    await waitFor(async () => (await statusRow.count()) === 0, { what: `no ${zone} conflicts under ${other}` });
    await page.getByLabel('Zone').selectOption(zone);
    await statusRow.waitFor();
    await prioRow.waitFor();

    // The ticket link opens the ticket drawer.
    await statusRow.getByTestId('ticket-link').click();
    const drawer = page.getByTestId('ticket-drawer');
    await drawer.locator('dl').waitFor();
    assert.match(await drawer.locator('#drawer-title').innerText(), new RegExp(ticket.ticket_number));
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });

    // Cancelling the confirmation changes nothing.
    await statusRow.getByRole('button', { name: 'Keep current' }).click();
    await confirm(page, 'Cancel');
    assert.equal((await dispatcher.get('/api/sync/conflicts?resolved=false')).items.length, 2);

    // "Use this value" for the status: on hold cannot follow resolved, so the hub refuses and
    // the row says why, in place, and stays.
    await statusRow.getByRole('button', { name: 'Use this value' }).click();
    await confirm(page, 'Use this value');
    const err = statusRow.locator('.conflict-error [role=alert]');
    await err.waitFor();
    assert.match(await err.innerText(), /on_hold cannot follow resolved/);
    await shot(page, 'sync-02-apply-refused');

    // "Keep current" dismisses it: the ticket stays resolved.
    await statusRow.getByRole('button', { name: 'Keep current' }).click();
    await confirm(page, 'Keep current');
    await statusRow.waitFor({ state: 'detached' });
    await waitFor(async () => (await badge.innerText()) === '1', { what: 'badge "1"' });
    let all = (await dispatcher.get('/api/sync/conflicts')).items.filter(c => c.entity_id === ticket.id);
    const st = all.find(c => c.field === 'status');
    assert.equal(st.resolution, 'dismiss');
    assert.equal(st.resolved_by, 'dispatcher');
    assert.equal((await dispatcher.get(`/api/tickets/${ticket.id}`)).status, 'resolved');

    // "Use this value" for the priority writes the lost value back.
    await prioRow.getByRole('button', { name: 'Use this value' }).click();
    await confirm(page, 'Use this value');
    await prioRow.waitFor({ state: 'detached' });
    await badge.waitFor({ state: 'hidden' });
    assert.equal((await dispatcher.get(`/api/tickets/${ticket.id}`)).priority, 'high');
    all = (await dispatcher.get('/api/sync/conflicts')).items.filter(c => c.entity_id === ticket.id);
    assert.equal(all.find(c => c.field === 'priority').resolution, 'apply');
    await page.getByTestId('empty').waitFor();
    await shot(page, 'sync-03-all-resolved', false);

    // A new conflict reaches the list and the badge with the next live refresh.
    const history = await edgeA.history('ticket', ticket.id);
    const base = { status: fieldClock(history, 'status'), title: fieldClock(history, 'title') };
    const now = Date.now();
    await edgeB.edit({ ticket: ticket.id, zone, actor: `field-${slug(zone)}-2`, patch: { title: 'Boiler replaced' }, base, wallMs: now - 10_000 });
    await edgeA.edit({ ticket: ticket.id, zone, actor, patch: { title: 'Boiler needs a new pump' }, base, wallMs: now - 20_000 });
    await page.getByRole('button', { name: 'Refresh now' }).click();
    const titleRow = page.locator(`li.conflict[data-entity-id="${ticket.id}"][data-field=title]`);
    await titleRow.waitFor();
    await waitFor(async () => (await badge.isVisible()) && (await badge.innerText()) === '1', { what: 'badge "1" after a live refresh' });
    assert.equal(await titleRow.getByTestId('value-lost').innerText(), 'Boiler needs a new pump');
    assert.equal(await titleRow.getByTestId('value-current').innerText(), 'Boiler replaced');

    // Show resolved: both, with what was decided and no buttons.
    await page.getByLabel('Show resolved').check();
    await prioRow.waitFor();
    assert.match(await prioRow.getByTestId('resolution').innerText(), /by dispatcher: used the lost value/);
    assert.match(await statusRow.getByTestId('resolution').innerText(), /by dispatcher: kept the current value/);
    assert.equal(await prioRow.getByTestId('value-current').innerText(), 'High');
    assert.equal(await prioRow.getByRole('button', { name: 'Use this value' }).count(), 0);
    await shot(page, 'sync-04-resolved');
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
    await ctx.close();
  });

  it('a viewer gets neither page', async () => {
    const { ctx, page } = await desktopPage(browser);
    const errors = watch(page);
    const refused = [];
    page.on('response', r => { if (r.url().includes('/api/sync/') && r.status() >= 400) refused.push(`${r.status()} ${r.url()}`); });
    await signIn(page, server.base, 'viewer');
    await page.locator('[data-kpi=total]').waitFor();
    assert.deepEqual(await page.locator('nav a').evaluateAll(as => as.map(a => a.dataset.route)), ['overview', 'tickets', 'map', 'teams']);
    await page.goto(`${server.base}/#conflicts`);
    await page.locator('[data-kpi=total]').waitFor();
    assert.equal(await page.locator('h1', { hasText: 'Sync conflicts' }).count(), 0, '#conflicts is not routed for viewers');
    assert.deepEqual(refused, [], 'the dashboard asks no sync endpoint a viewer may not use');
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
    await ctx.close();
  });

  it('admin creates an edge credential, edits its zones and revokes it', async () => {
    const { ctx, page } = await desktopPage(browser, { permissions: ['clipboard-read', 'clipboard-write'], origin: server.base });
    const errors = watch(page);
    await signIn(page, server.base, 'admin');
    await page.locator('nav a[data-route=edges]').click();
    const table = page.getByTestId('edge-table');
    await table.waitFor();
    const creds = (await admin.get('/api/sync/edges')).items;
    // The table is drawn before its rows arrive: wait for them, then check them.
    await page.waitForFunction(n => document.querySelectorAll('[data-testid=edge-table] tbody tr').length === n, creds.length, { timeout: 10000 })
      .catch(() => {});
    assert.equal(await table.locator('tbody tr').count(), creds.length, 'one row per credential (the demo edges and the test edges)');
    assert.equal(await table.locator('tbody tr[data-name="e2e-offline-a"] [data-col=zones]').innerText(), zone);

    // Create: the form checks what it can, the hub the rest (a taken name), both in place.
    await page.getByRole('button', { name: '+ New edge node' }).click();
    const form = page.getByTestId('edge-form');
    await form.getByLabel('Name').fill('e2e-branch');
    await form.getByRole('button', { name: 'Create credential' }).click();
    assert.match(await form.locator('.field-error').innerText(), /at least one zone/i);
    const zones = (await admin.get('/api/zones')).items.map(z => z.name).sort();
    const [z1, z2, z3] = [zones[2], zones[3], zones[4]];
    await form.getByLabel(z1, { exact: true }).check();
    await form.getByLabel(z2, { exact: true }).check();
    await form.getByLabel('Name').fill('e2e-offline-a');
    await form.getByRole('button', { name: 'Create credential' }).click();
    await form.locator('[role=alert]').waitFor();
    assert.match(await form.locator('[role=alert]').innerText(), /exist|taken|conflict|already/i);
    await shot(page, 'sync-05-edge-name-taken', false);
    await form.getByLabel('Name').fill('e2e-branch');
    await form.getByLabel('Expires').selectOption('720h');
    await form.getByRole('button', { name: 'Create credential' }).click();

    // The token, once, with its command line; Copy puts it on the clipboard; it works.
    const tokenEl = form.getByTestId('edge-token');
    await tokenEl.waitFor();
    const token = await tokenEl.innerText();
    assert.match(token, /^aiffe_e2e-branch_\S+$/);
    assert.equal(await form.getByTestId('edge-command').innerText(), `aiff edge --hub ${server.base} --token ${token}`);
    await form.getByRole('button', { name: 'Copy token' }).click();
    await form.getByText('Copied.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    await shot(page, 'sync-06-edge-token', false);
    const branch = new EdgeClient(server.base, { name: 'e2e-branch', token });
    assert.deepEqual((await branch.call('GET', '/api/sync/scope')).zones.sort(), [z1, z2].sort());
    await form.getByRole('button', { name: 'Done' }).click();
    await form.waitFor({ state: 'detached' });
    const row = table.locator('tbody tr[data-name="e2e-branch"]');
    await row.waitFor();
    assert.equal(await row.getAttribute('data-state'), 'active');
    assert.deepEqual((await row.locator('.chip').allInnerTexts()).sort(), [z1, z2].sort());
    const cred = (await admin.get('/api/sync/edges')).items.find(e => e.name === 'e2e-branch');
    const days = (Date.parse(cred.expires_at) - Date.parse(cred.created_at)) / 86400e3;
    assert.ok(Math.abs(days - 30) < 0.01, `expires in 30 days, got ${days}`);

    // Edit zones: drop z1, add z3.
    await row.getByRole('button', { name: 'Edit zones of e2e-branch' }).click();
    const dlg = page.locator('dialog[open]');
    assert.ok(await dlg.getByLabel(z1, { exact: true }).isChecked());
    await dlg.getByLabel(z1, { exact: true }).uncheck();
    await dlg.getByLabel(z3, { exact: true }).check();
    await shot(page, 'sync-07-edge-zones', false);
    await dlg.getByRole('button', { name: 'Save zones' }).click();
    await dlg.waitFor({ state: 'detached' });
    await waitFor(async () => JSON.stringify((await row.locator('.chip').allInnerTexts()).sort()) === JSON.stringify([z2, z3].sort()), { what: 'zones chips updated' });
    assert.deepEqual((await branch.call('GET', '/api/sync/scope')).zones.sort(), [z2, z3].sort());

    // Revoke, confirmed: the row says so and the token stops working.
    await row.getByRole('button', { name: 'Revoke e2e-branch' }).click();
    await confirm(page, 'Revoke edge');
    await waitFor(async () => (await row.getAttribute('data-state')) === 'revoked', { what: 'row revoked' });
    assert.equal(await row.getByRole('button').count(), 0, 'a revoked credential has no actions');
    await assert.rejects(branch.call('GET', '/api/sync/scope'), /401.*credential-revoked/);
    assert.ok((await admin.get('/api/sync/edges')).items.find(e => e.name === 'e2e-branch').revoked_at);
    await shot(page, 'sync-08-edge-revoked');
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
    await ctx.close();
  });
});
