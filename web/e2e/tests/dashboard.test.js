// Dispatcher dashboard, end to end: the real aiff binary, the real browser.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launch, desktopPage, watch, shot, waitFor, Client, fmtNum, PASSWORD } from '../lib/harness.js';

describe('dispatcher dashboard', () => {
  let server, browser, page, api, errors;

  before(async () => {
    server = await startDemo();
    api = await new Client(server.base).login('dispatcher');
    browser = await launch();
    ({ page } = await desktopPage(browser));
    errors = watch(page);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows an error for a wrong password, in place, and stays on the login form', async () => {
    await page.goto(`${server.base}/`);
    await page.getByLabel('Username').fill('dispatcher');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.locator('form.login [role=alert]');
    await alert.waitFor();
    assert.match(await alert.innerText(), /wrong username or password/i);
    assert.equal(await page.getByLabel('Password').inputValue(), '', 'password is cleared after a failed login');
    assert.equal(await page.locator('[data-kpi]').count(), 0, 'no dashboard without a session');
    await shot(page, 'dashboard-01-login-error');
  });

  it('logs in and shows KPI numbers equal to the overview API', async () => {
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-kpi=total] .value').waitFor();
    assert.match(await page.getByTestId('whoami').innerText(), /dispatcher/);
    // The demo may keep generating work, so compare a UI reading with an API reading taken
    // around the same moment, refreshing until they agree.
    await waitFor(async () => {
      const ov = await api.get('/api/tickets/analytics/overview');
      const ui = {};
      for (const k of ['total', 'open', 'unassigned', 'overdue']) ui[k] = await page.locator(`[data-kpi=${k}] .value`).innerText();
      const want = { total: fmtNum(ov.total), open: fmtNum(ov.open), unassigned: fmtNum(ov.unassigned), overdue: fmtNum(ov.overdue) };
      if (JSON.stringify(ui) === JSON.stringify(want)) return true;
      await page.getByRole('button', { name: 'Refresh now' }).click();
      throw new Error(`ui ${JSON.stringify(ui)} != api ${JSON.stringify(want)}`);
    }, { what: 'KPI cards to match /api/tickets/analytics/overview', timeoutMs: 20000, intervalMs: 1000 });
    const ov = await api.get('/api/tickets/analytics/overview');
    assert.ok(ov.total > 0, 'the demo has tickets');
    await page.locator('[data-testid=zone-table] tbody tr').first().waitFor();
    await page.locator('[data-testid=top-performers] li').first().waitFor();
    assert.ok(await page.locator('.chart svg').count() >= 3, 'three charts are drawn');
    await shot(page, 'dashboard-02-overview');
  });

  it('filters tickets by status and by text search', async () => {
    await page.getByRole('link', { name: 'Tickets' }).click();
    await page.getByTestId('ticket-table').waitFor();
    await page.getByLabel('Status').selectOption('open');
    await waitFor(async () => {
      const statuses = await page.locator('[data-testid=ticket-table] tbody tr').evaluateAll(rows => rows.map(r => r.dataset.status));
      return statuses.length > 0 && statuses.every(s => s === 'open');
    }, { what: 'only open tickets listed' });
    const page1 = await api.get('/api/tickets?status=open&total=true&limit=1');
    await waitFor(async () => (await page.getByTestId('ticket-count').innerText()).includes(`of ${fmtNum(page1.total)}`),
      { what: `count "of ${page1.total}"` });

    const first = page.locator('[data-testid=ticket-table] tbody tr').first();
    const number = await first.locator('td button.link').innerText();
    await page.getByLabel('Search').fill(number);
    await waitFor(async () => {
      const rows = page.locator('[data-testid=ticket-table] tbody tr');
      return (await rows.count()) === 1 && (await rows.first().innerText()).includes(number);
    }, { what: `search for ${number} to leave one row` });
    await shot(page, 'dashboard-03-filtered');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await waitFor(async () => (await page.getByLabel('Search').inputValue()) === '' && (await page.locator('[data-testid=ticket-table] tbody tr').count()) > 1,
      { what: 'filters cleared' });
  });

  it('opens a ticket and changes its status with a legal-transition button', async () => {
    await page.getByLabel('Status').selectOption('assigned');
    await waitFor(async () => {
      const s = await page.locator('[data-testid=ticket-table] tbody tr').evaluateAll(rows => rows.map(r => r.dataset.status));
      return s.length > 0 && s.every(x => x === 'assigned');
    }, { what: 'assigned tickets listed' });
    const row = page.locator('[data-testid=ticket-table] tbody tr').first();
    const id = await row.getAttribute('data-id');
    await row.locator('td button.link').click();
    const drawer = page.getByTestId('ticket-drawer');
    await drawer.locator('dl').waitFor();
    // Only the moves domain/status.go allows from assigned are offered.
    const offered = await drawer.locator('[role=group][aria-label="Change status"] button').evaluateAll(bs => bs.map(b => b.dataset.to).sort());
    assert.deepEqual(offered, ['cancelled', 'in_progress', 'open']);
    await shot(page, 'dashboard-04-drawer', false);
    await drawer.getByRole('button', { name: 'Start work' }).click();
    await drawer.locator('.badge[data-status=in_progress]').waitFor();
    const t = await api.get(`/api/tickets/${id}`);
    assert.equal(t.status, 'in_progress');
    const after = await drawer.locator('[role=group][aria-label="Change status"] button').evaluateAll(bs => bs.map(b => b.dataset.to).sort());
    assert.deepEqual(after, ['cancelled', 'on_hold', 'resolved']);
    await shot(page, 'dashboard-05-status-changed', false);
    // Notes: a blank note is refused in place; a real one is listed and stored with its author.
    await drawer.getByRole('button', { name: 'Add note' }).click();
    await drawer.locator('[data-testid=note-form] .field-error').waitFor();
    const body = `E2E: replaced fuse, customer not home (${id.slice(-6)})`;
    await drawer.getByLabel('Add a note').fill(body);
    await drawer.getByRole('button', { name: 'Add note' }).click();
    await drawer.getByTestId('notes').getByText(body).waitFor();
    assert.equal(await drawer.getByLabel('Add a note').inputValue(), '', 'the box is emptied after adding');
    const notes = (await api.get(`/api/tickets/${id}/notes`)).items;
    assert.deepEqual(notes.map(n => [n.author, n.body]).slice(-1), [['dispatcher', body]]);
    await shot(page, 'dashboard-05b-note-added', false);
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
  });

  it('assigns selected tickets to a team and shows the change', async () => {
    await page.getByLabel('Status').selectOption('open');
    await page.getByLabel('Team', { exact: true }).selectOption('none');
    await waitFor(async () => {
      const rows = await page.locator('[data-testid=ticket-table] tbody tr').evaluateAll(rs => rs.map(r => [r.dataset.status, r.dataset.team]));
      return rows.length >= 2 && rows.every(([s, tm]) => s === 'open' && tm === '');
    }, { what: 'at least two open, unassigned tickets' });
    const rows = page.locator('[data-testid=ticket-table] tbody tr');
    const ids = [await rows.nth(0).getAttribute('data-id'), await rows.nth(1).getAttribute('data-id')];
    await rows.nth(0).locator('input[type=checkbox]').check();
    await rows.nth(1).locator('input[type=checkbox]').check();
    assert.equal(await page.getByTestId('selected-count').innerText(), '2 selected');
    const zone = await rows.nth(0).getAttribute('data-zone');
    const teams = (await api.get('/api/auth/teams')).items;
    const team = teams.find(t => t.zone === zone && t.is_active) || teams[0];
    await page.locator('#assign-team').selectOption(team.id);
    await shot(page, 'dashboard-06-selected', false);
    await page.getByRole('button', { name: 'Assign', exact: true }).click();
    // The assigned tickets leave the "open, unassigned" list …
    await waitFor(async () => {
      const shown = await page.locator('[data-testid=ticket-table] tbody tr, [data-testid=empty]').evaluateAll(rs => rs.map(r => r.dataset.id));
      return ids.every(id => !shown.includes(id));
    }, { what: 'assigned tickets to leave the unassigned list' });
    for (const id of ids) {
      const t = await api.get(`/api/tickets/${id}`);
      assert.equal(t.assigned_team, team.id);
      assert.equal(t.status, 'assigned');
    }
    // … and show up under the team with its name.
    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Team', { exact: true }).selectOption(team.id);
    for (const id of ids) {
      const row = page.locator(`[data-testid=ticket-table] tbody tr[data-id="${id}"]`);
      await row.waitFor();
      assert.equal(await row.locator('[data-col=team]').innerText(), team.name);
    }
    await shot(page, 'dashboard-07-assigned');
  });

  it('draws the map and the teams page', async () => {
    await page.getByRole('link', { name: 'Map' }).click();
    await page.locator('.map svg polygon.zone').first().waitFor();
    const zones = (await api.get('/api/zones')).items;
    assert.equal(await page.locator('.map svg polygon.zone').count(), zones.filter(z => z.boundary?.length).length);
    await page.locator('.map svg circle.tdot').first().waitFor();
    await shot(page, 'dashboard-08-map', false);
    await page.getByRole('link', { name: 'Teams' }).click();
    await page.getByTestId('team-table').waitFor();
    const teams = (await api.get('/api/auth/teams')).items;
    assert.equal(await page.locator('[data-testid=team-table] tbody tr').count(), teams.length);
    await shot(page, 'dashboard-09-teams', false);
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  });
});
