// The Logs page against the simulated backend: the UI actions just made are
// in the store (shipped by the UI logger), the filters reach the API, a CSV
// export with the current filters holds those actions, and a click on a
// correlation id shows the UI action with the audit entries of the API calls
// it caused.
import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import { api, createVM, expect, login, rowAction, stateRE, test, toVMs, uniqueName, vmRow, whoami } from '../../harness/fixtures';
import { until } from '../../harness/daemon';

test.describe.configure({ mode: 'serial' });

interface Entry {
  source: string;
  action?: string;
  target?: string;
  vm_id?: string;
  correlation_id?: string;
  session_id?: string;
  user_action?: boolean;
  message: string;
}

const name = uniqueName('e2e-logs');
let sessionId = '';
let vmId = '';
let startCorrelation = '';

/** parseCSV reads RFC 4180 CSV (quoted fields, doubled quotes, newlines inside quotes). */
function parseCSV(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** exportAs clicks the export control of a format and returns the downloaded file's text. */
async function exportAs(page: Page, format: RegExp): Promise<{ text: string; url: string }> {
  const direct = page.getByRole('link', { name: format }).or(page.getByRole('button', { name: format }));
  if (!(await direct.count())) await page.getByRole('button', { name: /export/i }).click();
  const target = (await direct.count()) ? direct.first() : page.getByRole('menuitem', { name: format });
  const [download] = await Promise.all([page.waitForEvent('download'), target.click()]);
  const path = await download.path();
  return { text: readFileSync(path, 'utf8'), url: download.url() };
}

test('the UI actions of a session reach the log store, tied to their API calls', async ({ page, sim }) => {
  await login(page, sim);
  sessionId = `session:${(await whoami(page)).session_id}`;
  await page.goto(sim.url + '/vms');
  await createVM(page, name);
  await toVMs(page);
  const row = vmRow(page, name);
  await rowAction(page, row, /^start$/i);
  await expect(row).toContainText(stateRE('RUNNING'));
  const vm = await api<{ id: string }>(sim, 'GET', `/api/vms/${name}`);
  vmId = vm.id;
  // The audit entry of the start names this session; its correlation id is the click's.
  const audit = await until('the audit entry of vm.start', 15_000, async () => {
    const r = await api<{ logs: Entry[] }>(sim, 'GET', `/api/logs?source=audit&session_id=${encodeURIComponent(sessionId)}&q=vm.start`);
    const e = r.logs.find((l) => l.action === 'vm.start' && (l.vm_id === vm.id || l.target === name));
    if (!e) throw new Error(`no vm.start for ${name} (${vm.id}) in ${JSON.stringify(r.logs)}`);
    return e;
  });
  startCorrelation = audit.correlation_id ?? '';
  expect(startCorrelation).not.toBe('');
  // The logger ships in batches (every 5 s at most): wait for the click.
  const ui = await until('the UI action of the start click', 20_000, async () => {
    const r = await api<{ logs: Entry[] }>(sim, 'GET', `/api/logs?source=ui&correlation_id=${encodeURIComponent(startCorrelation)}`);
    if (!r.logs.length) throw new Error('none yet');
    return r.logs;
  });
  expect(ui[0]).toMatchObject({ source: 'ui', user_action: true, session_id: sessionId });
});

test('the Logs page filters, and exports the UI actions as CSV with its filters', async ({ page, sim }) => {
  test.skip(!sessionId, 'needs the session of the previous test');
  await login(page, sim);
  await page.goto(sim.url + '/logs');
  // The component legend: a badge per component.
  await expect(page.getByText(/^vm$/i).first()).toBeVisible();
  // A text filter reaches GET /api/logs and keeps the entries that name the VM.
  const search = page.getByRole('searchbox', { name: /^text$/i }).or(page.getByLabel(/^text$/i)).first();
  const queried = page.waitForRequest((r) => r.url().includes('/api/logs?') && new URL(r.url()).searchParams.get('q') === name);
  await search.fill(name);
  await search.press('Enter');
  await queried;
  const table = page.getByRole('grid').or(page.getByRole('table')).last();
  await expect(table.getByRole('row').filter({ hasText: name }).first()).toBeVisible();
  await page.getByRole('button', { name: /clear all filters/i }).click();
  await expect(page).not.toHaveURL(/[?&]q=/);
  // "User actions" shows what users did in the console.
  // The switch's input is under its drawn toggle: a user clicks the toggle or its label.
  const userActions = page.getByRole('switch', { name: /user actions/i });
  await page.getByText(/^user actions only$/i).click();
  await expect(userActions).toBeChecked();
  const apply = page.getByRole('button', { name: /^apply filters$/i });
  if (await apply.isEnabled()) await apply.click();
  await expect(page).toHaveURL(/user_action=true/);
  await expect(table.getByRole('row').filter({ hasText: /user action/i }).first()).toBeVisible();
  await expect(table.getByRole('row').filter({ hasText: /POST \/api\// })).toHaveCount(0);
  const { text, url } = await exportAs(page, /csv/i);
  expect(url).toContain('format=csv');
  expect(url).toContain('user_action=true');
  const [header, ...rows] = parseCSV(text).filter((r) => r.length > 1);
  const col = (n: string) => header.indexOf(n);
  for (const n of ['source', 'session_id', 'correlation_id', 'action', 'user_action']) expect(header, `CSV columns`).toContain(n);
  expect(rows.length).toBeGreaterThan(0);
  for (const r of rows) {
    expect(r[col('source')]).toBe('ui');
    expect(r[col('user_action')]).toBe('true');
  }
  const mine = rows.filter((r) => r[col('session_id')] === sessionId);
  expect(mine.map((r) => r[col('action')])).toContain('click');
  expect(mine.map((r) => r[col('correlation_id')])).toContain(startCorrelation);
});

test('a click on a correlation id shows the UI action and the audit entries it caused', async ({ page, sim }) => {
  test.skip(!startCorrelation, 'needs the correlation id of the first test');
  await login(page, sim);
  await page.goto(`${sim.url}/logs?q=${encodeURIComponent(vmId)}&source=audit`);
  const auditRow = page.getByRole('row').filter({ hasText: 'vm.start' }).first();
  await expect(auditRow).toBeVisible();
  const short = startCorrelation.slice(0, 8);
  await auditRow.getByRole('link', { name: new RegExp(short) }).or(auditRow.getByRole('button', { name: new RegExp(short) })).first().click();
  // Everything with that id, as a filtered list or a dialog: the audit entry
  // of the call and the click that made it, and nothing else.
  await expect.poll(async () => (await page.getByRole('dialog').count()) > 0 || page.url().includes('correlation_id=')).toBe(true);
  if (!(await page.getByRole('dialog').count())) expect(new URL(page.url()).searchParams.get('correlation_id')).toBe(startCorrelation);
  const view = (await page.getByRole('dialog').count()) ? page.getByRole('dialog') : page.getByRole('main');
  await expect(view.getByRole('row').filter({ hasText: 'vm.start' }).first()).toBeVisible();
  await expect(view.getByRole('row').filter({ hasText: /user action/i }).first()).toBeVisible();
  await expect(view.getByRole('row').filter({ hasText: 'vm.create' })).toHaveCount(0);
});
