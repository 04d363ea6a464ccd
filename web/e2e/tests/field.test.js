// Field portal, end to end: a field user sees only their team's jobs, starts one, and a status
// change made offline waits in the outbox and is replayed when the network returns.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launch, watch, shot, waitFor, Client, slug, PASSWORD } from '../lib/harness.js';

/**
 * fieldLogin finds a field user of the demo: the name `aiff demo` prints (field-…), else the
 * seed's naming rule for the first team of the first zone. AIFF_E2E_FIELD_USER overrides both.
 */
async function fieldLogin(server) {
  const printed = [...new Set(server.output().match(/\bfield-[a-z0-9-]+\b/g) || [])];
  const admin = await new Client(server.base).login('dispatcher');
  const zones = (await admin.get('/api/zones')).items.map(z => z.name).sort();
  const candidates = [process.env.AIFF_E2E_FIELD_USER, ...printed, ...zones.map(z => `field-${slug(z)}-1`)].filter(Boolean);
  for (const name of candidates) {
    try {
      const c = await new Client(server.base).login(name);
      if (c.user.role === 'field' && c.user.team_id) return c;
    } catch { /* try the next name */ }
  }
  throw new Error(`no field login among ${candidates.join(', ')}`);
}

describe('field portal', () => {
  let server, browser, ctx, page, field, dispatcher, errors, team, startId, holdId;

  before(async () => {
    server = await startDemo();
    dispatcher = await new Client(server.base).login('dispatcher');
    field = await fieldLogin(server);
    team = (await dispatcher.get('/api/auth/teams')).items.find(t => t.id === field.user.team_id);
    assert.ok(team, 'the field user has a team');
    // Arrange: two fresh jobs for the team — one to start, one in progress to put on hold offline.
    const mk = title => dispatcher.post('/api/tickets', { title, zone: team.zone, priority: 'high', category: 'repair', location: 'E2E test street 1' });
    [startId, holdId] = [(await mk('E2E: job to start')).id, (await mk('E2E: job to pause offline')).id];
    await dispatcher.post('/api/tickets/assign', { ticket_ids: [startId, holdId], team_id: team.id });
    await dispatcher.put(`/api/tickets/${holdId}`, { status: 'in_progress' });
    browser = await launch();
    ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'en-US', timezoneId: 'UTC' });
    page = await ctx.newPage();
    page.setDefaultTimeout(15000);
    errors = watch(page);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('logs in and lists only the team’s tickets, sorted by due date', async () => {
    await page.goto(`${server.base}/field`);
    await page.getByLabel('Username').fill(field.user.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('job-list').waitFor();
    await page.getByRole('button', { name: 'All' }).click();
    const cards = page.locator('[data-testid=job-list] a.card');
    await waitFor(async () => (await cards.count()) > 0, { what: 'job cards' });
    const teamsShown = await cards.evaluateAll(cs => [...new Set(cs.map(c => c.dataset.team))]);
    assert.deepEqual(teamsShown, [team.id], 'every card belongs to the user’s team');
    const ids = await cards.evaluateAll(cs => cs.map(c => c.dataset.id));
    const active = (await field.get('/api/tickets?status=assigned,in_progress,on_hold&limit=500')).items;
    assert.ok(active.every(t => t.assigned_team === team.id), 'the API itself scopes the field user to the team');
    for (const t of active) assert.ok(ids.includes(t.id), `active job ${t.ticket_number} is listed`);
    const other = (await dispatcher.get('/api/tickets?status=assigned,in_progress&limit=200')).items.find(t => t.assigned_team && t.assigned_team !== team.id);
    if (other) assert.ok(!ids.includes(other.id), 'another team’s ticket is not listed');

    await page.getByRole('button', { name: 'To do' }).click();
    const todo = page.locator('[data-testid=job-list] a.card');
    const due = await todo.evaluateAll(cs => cs.map(c => c.dataset.id));
    const byId = new Map(active.map(t => [t.id, t]));
    assert.deepEqual([...due].sort(), active.map(t => t.id).sort(), 'to-do is exactly the team’s active jobs');
    const times = due.map(id => Date.parse(byId.get(id).due_date));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'to-do list is sorted by due date');
    assert.ok(due.includes(startId) && due.includes(holdId), 'the newly assigned jobs are on the to-do list');
    await shot(page, 'field-01-list');
  });

  it('opens a job and starts it with a big button', async () => {
    await page.locator(`a.card[data-id="${startId}"]`).click();
    const detail = page.getByTestId('job-detail');
    await detail.waitFor();
    assert.deepEqual(await detail.locator('button.big').evaluateAll(bs => bs.map(b => b.dataset.to)), ['in_progress']);
    await shot(page, 'field-02-detail');
    await detail.getByRole('button', { name: 'Start work' }).click();
    await page.locator('[data-testid=job-detail][data-status=in_progress]').waitFor();
    assert.equal((await dispatcher.get(`/api/tickets/${startId}`)).status, 'in_progress');
    const buttons = await page.locator('[data-testid=job-detail] button.big').evaluateAll(bs => bs.map(b => b.dataset.to));
    assert.deepEqual(buttons, ['resolved', 'on_hold']);
    await shot(page, 'field-03-started');
    // The technician leaves a note on the job; the dispatcher reads it through the API.
    const detail2 = page.getByTestId('job-detail');
    await detail2.getByLabel('Add a note').fill('E2E: customer not home, back at 3');
    await detail2.getByRole('button', { name: 'Add note' }).click();
    await detail2.getByTestId('notes').getByText('E2E: customer not home, back at 3').waitFor();
    const notes = (await dispatcher.get(`/api/tickets/${startId}/notes`)).items;
    assert.deepEqual(notes.map(n => [n.author, n.body]), [[field.user.username, 'E2E: customer not home, back at 3']]);
    await shot(page, 'field-03b-note');
  });

  it('queues a status change made offline and replays it when back online', async () => {
    // The service worker must control the page before we cut the network.
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await page.goto(`${server.base}/field#t/${holdId}`);
    await page.locator(`[data-testid=job-detail][data-status=in_progress]`).waitFor();
    await waitFor(() => page.evaluate(() => !!navigator.serviceWorker.controller), { what: 'service worker to control the page' });

    await ctx.setOffline(true);
    await page.reload();
    await page.locator(`[data-testid=job-detail][data-status=in_progress]`).waitFor(); // app shell and jobs from this device
    assert.equal(await page.getByTestId('net').innerText(), 'Offline');
    await page.getByRole('button', { name: 'Put on hold' }).click();
    await page.locator('[data-testid=job-detail][data-status=on_hold]').waitFor();
    await waitFor(async () => (await page.getByTestId('outbox-count').innerText()) === '1 change waiting to sync', { what: 'outbox count 1' });
    assert.equal((await dispatcher.get(`/api/tickets/${holdId}`)).status, 'in_progress', 'nothing reached the hub while offline');
    await shot(page, 'field-04-offline-queued');

    await ctx.setOffline(false);
    await waitFor(async () => (await dispatcher.get(`/api/tickets/${holdId}`)).status === 'on_hold', { what: 'queued change to reach the hub' });
    await page.getByTestId('outbox-count').waitFor({ state: 'hidden' });
    assert.equal(await page.getByTestId('net').innerText(), 'Online');
    await shot(page, 'field-05-synced');
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  });
});
