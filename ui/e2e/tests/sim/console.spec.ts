// The VM page's Console tab against `quantixd dev` with the simulated
// backend, whose serial console echoes what it is sent.
import { api, expect, login, test, uniqueName } from '../../harness/fixtures';

test.describe.configure({ mode: 'serial' });

const name = uniqueName('e2e-console');

test('the Console tab connects, echoes what is typed, and says why it ended', async ({ page, browser, sim }) => {
  await api(sim, 'POST', '/api/vms', { name, vcpus: 1, memory_mib: 64 });
  await api(sim, 'POST', `/api/vms/${name}/start`);
  await login(page, sim);
  await page.goto(`${sim.url}/vms/${name}`);
  await page.getByRole('tab', { name: 'Console' }).click();
  const status = page.getByRole('status', { name: 'Console status' });
  await expect(status).toContainText(/^Connected/);
  const term = page.getByRole('region', { name: `Serial console of ${name}` });
  await term.click();
  await page.keyboard.type('hello-console');
  await expect(term).toContainText('hello-console');

  // Another user's page is refused, then takes the console over.
  const other = await browser.newContext();
  const page2 = await other.newPage();
  await login(page2, sim);
  await page2.goto(`${sim.url}/vms/${name}`);
  await page2.getByRole('tab', { name: 'Console' }).click();
  const status2 = page2.getByRole('status', { name: 'Console status' });
  await expect(status2).toContainText(/in use by "admin"/);
  await page2.getByRole('button', { name: 'Take over' }).click();
  await expect(status2).toContainText(/^Connected/);
  await expect(status).toContainText(/taken over by "admin"/);
  await expect(page.getByRole('button', { name: 'Take over' })).toBeVisible();
  await page2.getByRole('button', { name: 'Disconnect' }).click();
  await expect(status2).toHaveText('Disconnected.');
  await other.close();

  // Connect again, then the VM stops: the console ends saying so, and
  // Connect is disabled with the reason.
  await page.getByRole('button', { name: 'Connect' }).click();
  await expect(status).toContainText(/^Connected/);
  await api(sim, 'POST', `/api/vms/${name}/stop?force=true`);
  await expect(status).toContainText(/The console ended: .*stop/i);
  await expect(page.getByRole('button', { name: 'Connect' })).toBeDisabled();
});

test('a viewer is told the console needs the operator role', async ({ page, sim }) => {
  await api(sim, 'POST', `/api/vms/${name}/start`);
  await login(page, sim, 'viewer');
  await page.goto(`${sim.url}/vms/${name}`);
  await page.getByRole('tab', { name: 'Console' }).click();
  await expect(page.getByRole('status', { name: 'Console status' })).toContainText(/needs operator/i);
  await expect(page.getByRole('button', { name: 'Connect' })).toBeDisabled();
});
