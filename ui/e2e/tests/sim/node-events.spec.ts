// Node events are stored: after a reload the node's Events tab still shows
// the changes of its simulated host (its registration when `quantixd dev`
// started, and its backend going unhealthy and back).
import { api, expect, login, simControl, test } from '../../harness/fixtures';

interface NodeEvents {
  events: { action: string; backend_healthy: boolean; message: string; node_name: string }[];
}

test('the node page lists the node events stored, after a reload too', async ({ page, sim }) => {
  test.setTimeout(120_000);
  const { nodes } = await api<{ nodes: { id: string; name: string }[] }>(sim, 'GET', '/api/nodes');
  expect(nodes.length).toBeGreaterThan(0);
  const node = nodes[0];
  const stored = async () => (await api<NodeEvents>(sim, 'GET', `/api/nodes/${node.id}/events?latest=100`)).events;

  // The simulated host loses its hypervisor connection: the next heartbeat
  // reports the backend unhealthy, a node event.
  const before = (await stored()).filter((e) => !e.backend_healthy).length;
  const down = await simControl(sim, { op: 'disconnect' });
  expect(down.ok, down.error).toBe(true);
  try {
    await expect.poll(async () => (await stored()).filter((e) => !e.backend_healthy).length, { timeout: 60_000 }).toBeGreaterThan(before);
  } finally {
    const up = await simControl(sim, { op: 'reconnect' });
    expect(up.ok, up.error).toBe(true);
  }
  await expect
    .poll(async () => (await api<{ backend: { healthy: boolean } }>(sim, 'GET', `/api/nodes/${node.id}`)).backend.healthy, { timeout: 60_000 })
    .toBe(true);
  const unhealthy = (await stored()).find((e) => !e.backend_healthy);
  expect(unhealthy).toBeTruthy();

  await login(page, sim);
  await page.goto(`${sim.url}/nodes/${node.id}`);
  const seeEvents = async () => {
    await page.getByRole('tab', { name: 'Events' }).click();
    const table = page.getByRole('grid', { name: 'Node events' }).or(page.getByRole('table', { name: 'Node events' }));
    await expect(table.getByRole('row').filter({ hasText: unhealthy!.message }).first()).toBeVisible();
    await expect(table.getByRole('row').filter({ hasText: 'register' }).first()).toBeVisible();
  };
  await seeEvents();
  // Stored, not only streamed: a new page load lists them again.
  await page.reload();
  await seeEvents();
});
