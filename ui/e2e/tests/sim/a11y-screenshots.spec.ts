// Every page of the console: an axe-core scan (WCAG 2.1 A and AA rules) with
// no serious or critical violation, and a screenshot saved under
// docs/screenshots/ (QUANTIX_E2E_SCREENSHOT_DIR elsewhere), which the README
// shows. The inventory is given a few VMs first so that pages show data.
import AxeBuilder from '@axe-core/playwright';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { api, expect, login, test } from '../../harness/fixtures';
import { repoRoot } from '../../harness/daemon';

test.describe.configure({ mode: 'serial' });

const shots = process.env.QUANTIX_E2E_SCREENSHOT_DIR ?? join(repoRoot, 'docs/screenshots');

const fleet = [
  { name: 'web-01', vcpus: 2, memory_mib: 2048, labels: { tier: 'web', env: 'prod' }, start: true },
  { name: 'web-02', vcpus: 2, memory_mib: 2048, labels: { tier: 'web', env: 'prod' }, start: true },
  { name: 'db-01', vcpus: 4, memory_mib: 8192, labels: { tier: 'db', env: 'prod' }, start: true },
  { name: 'cache-01', vcpus: 1, memory_mib: 1024, labels: { tier: 'cache', env: 'prod' }, start: false },
  { name: 'ci-runner', vcpus: 8, memory_mib: 16384, labels: { team: 'build' }, start: true },
];
let webId = '';

test.beforeAll(async () => {
  const d = JSON.parse(process.env.QUANTIX_E2E_DAEMONS ?? '{}').sim;
  for (const vm of fleet) {
    const got = await api<{ vms: Array<{ id: string; name: string }> }>(d, 'GET', '/api/vms?limit=1000');
    let id = got.vms.find((v) => v.name === vm.name)?.id;
    if (!id) {
      const created = await api<{ id: string }>(d, 'POST', '/api/vms', {
        name: vm.name, vcpus: vm.vcpus, memory_mib: vm.memory_mib, labels: vm.labels, restart_policy: 'on-crash',
      });
      id = created.id;
      if (vm.start) await api(d, 'POST', `/api/vms/${id}/start`);
    }
    if (vm.name === 'web-01') webId = id;
  }
});

/** settle waits until the page has its heading and no spinner. */
async function settle(page: Page): Promise<void> {
  await expect(page.getByRole('heading', { level: 1 }).first()).toBeVisible();
  await expect(page.getByRole('progressbar')).toHaveCount(0);
}

/** scan fails on any serious or critical axe violation, naming the rule and the elements. */
async function scan(page: Page, what: string): Promise<void> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n  ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n  ')}`);
  expect(report, `axe violations on ${what}`).toEqual([]);
}

async function shoot(page: Page, file: string): Promise<void> {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, file), animations: 'disabled', caret: 'hide' });
}

test('login page', async ({ page, sim }) => {
  await page.goto(sim.url + '/login');
  await expect(page.getByRole('button', { name: /^log ?in$/i })).toBeVisible();
  await scan(page, '/login');
  await shoot(page, 'login.png');
});

const pages: Array<{ file: string; path: () => string; sim?: boolean }> = [
  { file: 'dashboard.png', path: () => '/' },
  { file: 'vms.png', path: () => '/vms' },
  { file: 'vm-detail.png', path: () => `/vms/${webId}` },
  { file: 'nodes.png', path: () => '/nodes' },
  { file: 'node-detail.png', path: () => `/nodes/${JSON.parse(process.env.QUANTIX_E2E_DAEMONS ?? '{}').sim.nodeName}` },
  { file: 'events.png', path: () => '/events' },
  { file: 'logs.png', path: () => '/logs' },
  { file: 'users.png', path: () => '/users' },
];

for (const p of pages) {
  test(`${p.file.replace('.png', '')} page`, async ({ page, sim }) => {
    await login(page, sim);
    await page.goto(sim.url + p.path());
    await settle(page);
    await scan(page, p.path());
    await shoot(page, p.file);
  });
}

test('VM detail tabs and the create dialog', async ({ page, sim }) => {
  await login(page, sim);
  await page.goto(`${sim.url}/vms/${webId}`);
  await settle(page);
  for (const tab of ['Logs', 'Events']) {
    await page.getByRole('tab', { name: tab }).click();
    await expect(page.getByRole('tabpanel')).toBeVisible();
    await scan(page, `/vms/${webId} ${tab} tab`);
    await shoot(page, `vm-detail-${tab.toLowerCase()}.png`);
  }
  await page.goto(sim.url + '/vms');
  await settle(page);
  await page.getByRole('button', { name: /^create( vm)?$/i }).click();
  await expect(page.getByRole('dialog')).toBeVisible();
  await scan(page, 'the create VM dialog');
  await shoot(page, 'vm-create.png');
});
