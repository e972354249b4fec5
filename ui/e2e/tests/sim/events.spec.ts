// The Events page against `quantixd dev` with the simulated backend: the
// page starts from the newest stored events and loads older ones on demand,
// with its filters, until the history is read.
import { api, expect, login, simControl, test, uniqueName } from '../../harness/fixtures';

test('the Events page loads older events with its filters, and says when none is left', async ({ page, sim }) => {
  const name = uniqueName('e2e-older');
  const vm = await api<{ id: string }>(sim, 'POST', '/api/vms', { name, vcpus: 1, memory_mib: 64 });
  await api(sim, 'POST', `/api/vms/${vm.id}/start`);
  // More state changes than the page's first list (200): the host pauses
  // and resumes the VM behind Quantix's back.
  // Each change is waited for: changes made faster than the host reports
  // them are seen as one.
  test.setTimeout(300_000);
  for (let i = 0; i < 110; i++) {
    for (const state of ['PAUSED', 'RUNNING']) {
      const r = await simControl(sim, { op: 'set_state', vm: name, state });
      expect(r.ok, r.error).toBe(true);
      await expect.poll(async () => (await api<{ state: string }>(sim, 'GET', `/api/vms/${vm.id}`)).state).toBe(state);
    }
  }
  const stored = async () => (await api<{ events: unknown[] }>(sim, 'GET', `/api/events?latest=1000&vm_id=${vm.id}`)).events.length;
  await expect.poll(stored, { timeout: 60_000 }).toBeGreaterThan(200);
  const total = await stored();

  await login(page, sim);
  await page.goto(`${sim.url}/events?vm=${encodeURIComponent(name)}`);
  const events = page.getByRole('grid', { name: 'Events' }).or(page.getByRole('table', { name: 'Events' }));
  await expect(page.getByText('200 shown')).toBeVisible();
  await page.getByRole('button', { name: 'Load older events' }).click();
  await expect(page.getByText(`${total} shown`)).toBeVisible();
  // Every row is still the filtered VM's, the filter is still in the address.
  await expect(events.getByRole('row')).toHaveCount(total + 1);
  await expect(events.getByRole('row').filter({ hasNotText: name })).toHaveCount(1); // the header
  expect(new URL(page.url()).searchParams.get('vm')).toBe(name);
  await expect(page.getByText('No older events match these filters.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Load older events' })).toHaveCount(0);
});
