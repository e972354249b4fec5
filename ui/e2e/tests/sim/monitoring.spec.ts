// The Monitoring tabs against `quantixd dev` with the simulated backend
// process: a running VM's charts show values that change as new samples
// come, without a reload; its node's tab and the dashboard's busiest VMs
// show what runs.
import { api, expect, login, test, uniqueName } from '../../harness/fixtures';

/** The number in the accessible name of a chart: "CPU chart: of its vCPUs 12.3 %" → 12.3. */
function valueOf(label: string | null): number {
  const m = /([\d.]+) %/.exec(label ?? '');
  return m ? Number(m[1]) : Number.NaN;
}

test('the Monitoring tab draws live values of a running VM', async ({ page, sim }) => {
  test.setTimeout(120_000);
  const name = uniqueName('qx-m-mon');
  const vm = await api<{ id: string; node_id: string }>(sim, 'POST', '/api/vms', { name, vcpus: 2, memory_mib: 128 });
  await api(sim, 'POST', `/api/vms/${vm.id}/start`);
  await login(page, sim);
  await page.goto(`${sim.url}/vms/${vm.id}`);
  await page.evaluate(() => ((window as unknown as { e2eMark: boolean }).e2eMark = true));
  await page.getByRole('tab', { name: 'Monitoring' }).click();

  const cpu = page.getByRole('img', { name: /^CPU chart: of its vCPUs [\d.]+ %/ });
  await expect(cpu).toBeVisible({ timeout: 60_000 });
  await expect(page.getByRole('img', { name: /^Memory chart: assigned 128 MiB/ })).toBeVisible();
  await expect(page.getByRole('img', { name: /^Disk chart: read [\d.]+ \w+\/s, write/ })).toBeVisible();
  await expect(page.getByRole('img', { name: /^Network chart: received [\d.]+ \w+\/s, sent/ })).toBeVisible();
  const first = valueOf(await cpu.getAttribute('aria-label'));
  expect(first).toBeGreaterThan(0);
  expect(first).toBeLessThanOrEqual(100);
  // Live: a later sample changes the chart without a reload.
  await expect.poll(async () => valueOf(await cpu.getAttribute('aria-label')), { timeout: 45_000 }).not.toBe(first);
  expect(await page.evaluate(() => (window as unknown as { e2eMark?: boolean }).e2eMark)).toBe(true);

  await page.goto(`${sim.url}/nodes/${vm.node_id}`);
  await page.getByRole('tab', { name: 'Monitoring' }).click();
  await expect(page.getByRole('img', { name: /^CPU chart: of the host [\d.]+ %/ })).toBeVisible({ timeout: 30_000 });

  await page.goto(`${sim.url}/`);
  const busiest = page.getByRole('grid', { name: 'Busiest VMs' }).or(page.getByRole('table', { name: 'Busiest VMs' }));
  // Other tests' VMs may be busier: some running VM is listed, linked to its page.
  await expect(busiest.getByRole('link').first()).toBeVisible({ timeout: 30_000 });
});
