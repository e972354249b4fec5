// The console against `quantixd dev` on real libvirt/QEMU (qemu:///system): a
// tiny VM (64 MiB, no disk: it boots into the firmware) is created and
// started, its Logs tab shows QEMU's lines and follows new ones, a `virsh
// destroy` behind Quantix's back shows STOPPED live, Force Reset State and
// delete work from the VM's page.
import { execFileSync } from 'node:child_process';
import type { Page } from '@playwright/test';
import { api, confirm, createVM, expect, login, rowAction, stateRE, test, toVMs, uniqueName, vmRow } from '../../harness/fixtures';

test.describe.configure({ mode: 'serial' });
// QEMU under TCG on a shared machine boots slowly.
test.setTimeout(120_000);

const name = uniqueName('e2e-lv');
const virsh = (...args: string[]) => execFileSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test.afterAll(() => {
  // Whatever a failed test left on the host goes; a passed run left nothing.
  for (const args of [['destroy', name], ['undefine', '--nvram', name]]) {
    try {
      virsh(...args);
    } catch {
      // not there
    }
  }
});

/** openVM opens the VM's page from the VMs list. */
async function openVM(page: Page, url: string): Promise<void> {
  await page.goto(url + '/vms');
  await vmRow(page, name).getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
}

/** actionsMenu runs an item of the VM page's actions menu. */
async function actionsMenu(page: Page, item: RegExp): Promise<void> {
  await page.getByRole('button', { name: /^actions$/i }).click();
  await page.getByRole('menuitem', { name: item }).click();
}

test('creates and starts a tiny VM on QEMU', async ({ page, libvirt }) => {
  await login(page, libvirt);
  await page.goto(libvirt.url + '/vms');
  await createVM(page, name, { vcpus: 1, memoryMiB: 64, noDisks: true });
  await toVMs(page);
  const row = vmRow(page, name);
  await expect(row).toContainText(stateRE('STOPPED'));
  await rowAction(page, row, /^start$/i);
  await expect(row).toContainText(stateRE('RUNNING'), { timeout: 60_000 });
  expect(virsh('domstate', name).trim()).toBe('running');
});

test('the Logs tab shows QEMU lines, follows new ones, and virsh destroy shows STOPPED live', async ({ page, libvirt }) => {
  await login(page, libvirt);
  await openVM(page, libvirt.url);
  await page.getByRole('tab', { name: /^logs$/i }).click();
  const panel = page.getByRole('tabpanel');
  // libvirt's header of a QEMU log, then QEMU's command line.
  await expect(panel).toContainText(/qemu/i);
  await panel.getByRole('switch', { name: /follow/i }).or(panel.getByRole('checkbox', { name: /follow/i })).first().check();
  await expect(panel).not.toContainText(/shutting down/);
  await page.evaluate(() => ((window as unknown as { e2eMark: boolean }).e2eMark = true));
  virsh('destroy', name);
  // libvirt logs the end of QEMU; the followed log shows it without a refresh.
  await expect(panel).toContainText(/shutting down, reason=destroyed/, { timeout: 15_000 });
  await expect(page.getByRole('main').getByText(stateRE('STOPPED')).first()).toBeVisible({ timeout: 15_000 });
  expect(await page.evaluate(() => (window as unknown as { e2eMark?: boolean }).e2eMark)).toBe(true);
});

test('Force Reset State sets a RUNNING VM STOPPED without asking the host, after saying so', async ({ page, libvirt }) => {
  // The previous test left the VM stopped: start it again, so that the
  // reset visibly changes its state.
  await api(libvirt, 'POST', `/api/vms/${name}/start`);
  await login(page, libvirt);
  await openVM(page, libvirt.url);
  // The state beside the VM's name (the overview and the history name
  // other states too).
  const header = page
    .getByRole('heading', { level: 1, name })
    .locator('xpath=ancestor::*[contains(concat(" ", @class, " "), " pf-v6-l-flex ")][1]');
  await expect(header).toContainText(stateRE('RUNNING'), { timeout: 60_000 });
  expect(virsh('domstate', name).trim()).toBe('running');
  await actionsMenu(page, /^force reset state$/i);
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText(/without asking/i);
  await expect(dialog).toContainText(/STOPPED/);
  await confirm(page, /force reset state|reset|confirm/i);
  await expect(header).toContainText(stateRE('STOPPED'));
  await expect(header).not.toContainText(stateRE('RUNNING'));
  const ev = await api<{ events: Array<{ action: string; old_state: string; new_state: string }> }>(
    libvirt, 'GET', `/api/vms/${name}/events?limit=1000`);
  const reset = ev.events.filter((e) => e.action === 'reset_state').pop();
  expect(reset).toMatchObject({ old_state: 'RUNNING', new_state: 'STOPPED' });
  // The host was not asked: QEMU still runs. Stop it, so the host agrees
  // with the record again before the VM is deleted.
  expect(virsh('domstate', name).trim()).toBe('running');
  virsh('destroy', name);
});

test('deletes the VM from its page, with a confirmation', async ({ page, libvirt }) => {
  await login(page, libvirt);
  await openVM(page, libvirt.url);
  await actionsMenu(page, /^delete$/i);
  await confirm(page, /^delete$/i);
  await expect(page).toHaveURL(/\/vms$/);
  await expect(vmRow(page, name)).toHaveCount(0);
  expect(() => virsh('dominfo', name)).toThrow();
});
