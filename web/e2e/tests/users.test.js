// Users page of the dashboard, end to end: the admin deactivates a field user, whose live
// session is refused at once and who cannot sign in, then activates them again.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launch, desktopPage, watch, shot, waitFor, Client, PASSWORD } from '../lib/harness.js';

async function signIn(page, base, username) {
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('whoami').waitFor();
}

describe('users page', () => {
  let server, browser, admin;

  before(async () => {
    server = await startDemo();
    admin = await new Client(server.base).login('admin');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('is not offered to dispatchers', async () => {
    const { ctx, page } = await desktopPage(browser);
    await signIn(page, server.base, 'dispatcher');
    assert.equal(await page.locator('nav a[data-route=users]').count(), 0, 'dispatchers get no Users link');
    await page.goto(`${server.base}/#users`);
    await page.locator('h1').first().waitFor();
    assert.equal(await page.locator('h1', { hasText: 'Users' }).count(), 0, '#users is not routed for dispatchers');
    await ctx.close();
  });

  it('admin deactivates a field user, whose session ends, and activates them again', async () => {
    const { ctx, page } = await desktopPage(browser);
    const errors = watch(page);
    await signIn(page, server.base, 'admin');
    await page.locator('nav a[data-route=users]').click();
    const table = page.getByTestId('user-table');
    await table.waitFor();
    const users = (await admin.get('/api/users')).items;
    assert.equal(await table.locator('tbody tr').count(), users.length, 'one row per user');
    assert.equal(await table.locator('tbody tr[data-username=admin] button').count(), 0, 'no button to deactivate yourself');

    const victim = users.find(u => u.role === 'field' && u.is_active);
    assert.ok(victim, 'the demo has an active field user');
    const field = await new Client(server.base).login(victim.username);
    await field.get('/api/tickets?limit=1');

    const row = table.locator(`tbody tr[data-username="${victim.username}"]`);
    await row.getByRole('button', { name: `Deactivate ${victim.username}` }).click();
    const dlg = page.locator('dialog[open]');
    await dlg.waitFor();
    await shot(page, 'users-01-confirm-deactivate', false);
    await dlg.getByRole('button', { name: 'Deactivate user', exact: true }).click();
    await dlg.waitFor({ state: 'detached' });
    await waitFor(async () => (await row.getAttribute('data-state')) === 'inactive', { what: 'row deactivated' });
    assert.equal(await row.locator('[data-col=state]').innerText(), 'Deactivated');
    assert.equal((await admin.get(`/api/users/${victim.id}`)).is_active, false);
    await assert.rejects(field.get('/api/tickets?limit=1'), /401.*deactivated/, 'the live session is refused at once');
    await assert.rejects(new Client(server.base).login(victim.username), /401/, 'no new sign-in');
    await shot(page, 'users-02-deactivated');

    await row.getByRole('button', { name: `Activate ${victim.username}` }).click();
    await waitFor(async () => (await row.getAttribute('data-state')) === 'active', { what: 'row activated' });
    assert.equal((await admin.get(`/api/users/${victim.id}`)).is_active, true);
    await new Client(server.base).login(victim.username);
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
    await ctx.close();
  });
});
