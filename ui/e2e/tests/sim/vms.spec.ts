// The console against `quantixd dev` with the simulated backend: logging in,
// creating and starting a VM and seeing its state change live, a change made
// on the host behind Quantix's back, and what a viewer may do.
import { api, confirm, createVM, expect, login, rowAction, simControl, stateRE, test, toVMs, uniqueName, vmRow, writeActions } from '../../harness/fixtures';

test.describe.configure({ mode: 'serial' });

const name = uniqueName('e2e-sim');

test('logs in and shows the user and role in the header; logs out', async ({ page, sim }) => {
  await page.goto(sim.url + '/vms');
  // Not signed in: the console sends us to the login page, keeping where we were.
  await expect(page).toHaveURL(/\/login/);
  await page.getByLabel(/user ?name/i).fill('admin');
  await page.getByLabel(/^password/i).fill('not the password');
  await page.getByRole('button', { name: /^log ?in$/i }).click();
  await expect(page.getByText(/unauthenticated|invalid|wrong|incorrect/i).first()).toBeVisible();
  await page.getByLabel(/^password/i).fill(sim.adminPassword);
  await page.getByRole('button', { name: /^log ?in$/i }).click();
  await expect(page).toHaveURL(/\/vms$/);
  const banner = page.getByRole('banner');
  await expect(banner.getByLabel(/logged in as admin/i)).toBeVisible();
  await expect(banner.getByLabel(/role: admin/i)).toBeVisible();
  await banner.getByRole('button', { name: /^log ?out$/i }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto(sim.url + '/vms');
  await expect(page).toHaveURL(/\/login/);
});

test('creates a VM, starts it and sees RUNNING without a reload', async ({ page, sim }) => {
  await login(page, sim);
  await page.goto(sim.url + '/vms');
  await createVM(page, name);
  await toVMs(page);
  const row = vmRow(page, name);
  await expect(row).toContainText(stateRE('STOPPED'));
  await page.evaluate(() => ((window as unknown as { e2eMark: boolean }).e2eMark = true));
  await rowAction(page, row, /^start$/i);
  await expect(row).toContainText(stateRE('RUNNING'));
  // The same document: the state came over the event stream, not a reload.
  expect(await page.evaluate(() => (window as unknown as { e2eMark?: boolean }).e2eMark)).toBe(true);
  const vm = await api<{ state: string; desired_state: string }>(sim, 'GET', `/api/vms/${name}`);
  expect(vm).toMatchObject({ state: 'RUNNING', desired_state: 'running' });
});

test('a change made on the simulated host appears in the list within 1 s', async ({ page, sim }) => {
  await login(page, sim);
  await page.goto(sim.url + '/vms');
  const row = vmRow(page, name);
  await expect(row).toContainText(stateRE('RUNNING'));
  await page.evaluate(() => ((window as unknown as { e2eMark: boolean }).e2eMark = true));
  const t0 = Date.now();
  // The guest crashes behind Quantix's back.
  await simControl(sim, { op: 'crash', vm: name });
  await expect(row).toContainText(stateRE('CRASHED'), { timeout: 1000 });
  test.info().annotations.push({ type: 'out-of-band change shown after', description: `${Date.now() - t0} ms` });
  expect(await page.evaluate(() => (window as unknown as { e2eMark?: boolean }).e2eMark)).toBe(true);
});

test('a viewer sees no enabled write button, and is told which role is needed', async ({ page, sim }) => {
  await login(page, sim, 'viewer');
  await expect(page.getByRole('banner').getByLabel(/role: viewer/i)).toBeVisible();
  await page.goto(sim.url + '/vms');
  const row = vmRow(page, name);
  await expect(row).toBeVisible();
  const create = page.getByRole('button', { name: /^create( vm)?$/i });
  await expect(create).toBeVisible();
  await expect(create).toBeDisabled();
  // The tooltip says why; the disabled button is wrapped so that it can be hovered.
  await page.getByLabel(/^create vm: .*needs operator/i).hover();
  await expect(page.getByRole('tooltip')).toContainText(/needs operator/i);

  const checkWrites = async () => {
    const buttons = await page.getByRole('button', { name: writeActions }).all();
    const items = await page.getByRole('menuitem', { name: writeActions }).all();
    for (const b of [...buttons, ...items]) {
      await expect(b, `${await b.textContent()} must be disabled for a viewer`).toBeDisabled();
    }
    return buttons.length + items.length;
  };
  let seen = await checkWrites();
  // The row's actions menu too.
  const toggle = row.getByRole('button', { name: /actions|kebab/i });
  if (await toggle.count()) {
    await toggle.click();
    seen += await checkWrites();
    await page.keyboard.press('Escape');
  }
  // And the VM's own page, with its actions menu.
  await row.getByRole('link', { name }).click();
  await expect(page).toHaveURL(/\/vms\/[^/]+$/);
  await expect(page.getByRole('heading', { name })).toBeVisible();
  seen += await checkWrites();
  const menu = page.getByRole('button', { name: /^actions$/i });
  if (await menu.count()) {
    await menu.click();
    seen += await checkWrites();
    await page.keyboard.press('Escape');
  }
  expect(seen, 'write actions found (disabled) on the VMs list and the VM page').toBeGreaterThan(3);
  // The admin-only page is not offered.
  const nav = page.getByRole('navigation', { name: /pages/i });
  await expect(nav.getByRole('link', { name: /vms|virtual machines/i })).toBeVisible();
  await expect(nav.getByRole('link', { name: /users/i })).toHaveCount(0);
});

test('deletes the VM after stopping it, with a confirmation', async ({ page, sim }) => {
  await login(page, sim);
  await page.goto(sim.url + '/vms');
  const row = vmRow(page, name);
  await expect(row).toContainText(stateRE('CRASHED'));
  await rowAction(page, row, /^delete$/i);
  await confirm(page, /^delete$/i);
  await expect(row).toHaveCount(0);
  const vm = await api<{ state: string }>(sim, 'GET', `/api/vms?state=TERMINATED`);
  expect(JSON.stringify(vm)).toContain(name);
});
