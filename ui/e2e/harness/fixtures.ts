// Test fixtures: the daemons the global setup started, logging in through
// the login page as a user does, the simulated host's control socket, and
// helpers that find the console's elements by role and accessible name.
import { test as base, expect, type Locator, type Page } from '@playwright/test';
import { createConnection } from 'node:net';
import { api, type DaemonInfo } from './daemon';

export { expect };

/** daemon returns the daemon of a backend the global setup started. */
export function daemon(kind: 'sim' | 'libvirt'): DaemonInfo {
  const all = JSON.parse(process.env.QUANTIX_E2E_DAEMONS ?? '{}') as Record<string, DaemonInfo>;
  const d = all[kind];
  if (!d) throw new Error(`no ${kind} daemon: the global setup did not start one (QUANTIX_E2E_BACKENDS)`);
  return d;
}

export type Role = 'admin' | 'viewer';

/** login signs in through the login page and waits to leave it. */
export async function login(page: Page, d: DaemonInfo, role: Role = 'admin'): Promise<void> {
  await page.goto(d.url + '/login');
  await page.getByLabel(/user ?name/i).fill(role);
  await page.getByLabel(/^password/i).fill(role === 'admin' ? d.adminPassword : d.viewerPassword);
  await page.getByRole('button', { name: /^(log ?in|sign ?in)$/i }).click();
  await expect(page).not.toHaveURL(/\/login/);
}

/** whoami is the signed-in browser session as the API names it. */
export async function whoami(page: Page): Promise<{ user: string; role: string; session_id: string }> {
  return page.evaluate(async () => (await fetch('/api/auth/whoami', { credentials: 'same-origin' })).json());
}

/** simControl sends one request to the simulated host's control socket (plugins/sim/control.go). */
export function simControl(d: DaemonInfo, req: { op: string; vm?: string; state?: string }): Promise<{ ok: boolean; error?: string; vm?: { state: string } }> {
  return new Promise((res, rej) => {
    const conn = createConnection(d.controlSocket);
    let buf = '';
    conn.on('error', rej);
    conn.on('data', (b) => {
      buf += b.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        conn.end();
        const reply = JSON.parse(buf.slice(0, nl));
        if (!reply.ok) rej(new Error(`sim control ${JSON.stringify(req)}: ${reply.error}`));
        else res(reply);
      }
    });
    conn.write(JSON.stringify(req) + '\n');
  });
}

/** uniqueName gives each test's VMs names of their own. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** vmRow is the VMs table's row of the VM named name. */
export function vmRow(page: Page, name: string): Locator {
  return page.getByRole('row').filter({ has: page.getByText(name, { exact: true }) });
}

/** stateRE matches a power state as the console prints it (RUNNING), not a desired state (running). */
export function stateRE(state: string): RegExp {
  // Not \b: a row's text runs its cells together ("web-1RUNNINGnode-1").
  return new RegExp(`(?<![A-Z_])${state}(?![A-Z_])`);
}

/**
 * rowAction runs a row action: the row's own button when it has one, else
 * the item of its actions menu (the kebab toggle).
 */
export async function rowAction(page: Page, row: Locator, action: RegExp): Promise<void> {
  const direct = row.getByRole('button', { name: action });
  if (await direct.count()) {
    await direct.first().click();
    return;
  }
  await row.getByRole('button', { name: /actions|kebab/i }).click();
  await page.getByRole('menuitem', { name: action }).click();
}

/** confirm clicks the confirming button of the open confirmation dialog. */
export async function confirm(page: Page, button: RegExp): Promise<void> {
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: button }).click();
  await expect(dialog).toBeHidden();
}

/**
 * createVM fills the create dialog of the VMs page (name, vCPUs, memory;
 * noDisks removes the disks the form offers) and submits it; the console
 * then shows the new VM's page.
 */
export async function createVM(page: Page, name: string, opts: { vcpus?: number; memoryMiB?: number; noDisks?: boolean } = {}): Promise<void> {
  await page.getByRole('button', { name: /^create( vm| virtual machine)?$/i }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByLabel(/^name/i).fill(name);
  await dialog.getByLabel(/^vcpus/i).fill(String(opts.vcpus ?? 1));
  await dialog.getByLabel(/^memory/i).fill(String(opts.memoryMiB ?? 64));
  if (opts.noDisks) {
    const remove = dialog.getByRole('button', { name: /^remove disk/i });
    while (await remove.count()) await remove.first().click();
  }
  await dialog.getByRole('button', { name: /^create$/i }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
}

/** toVMs goes to the VMs list through the navigation, without loading the page anew. */
export async function toVMs(page: Page): Promise<void> {
  await page.getByRole('navigation', { name: /pages/i }).getByRole('link', { name: /virtual machines/i }).click();
  await expect(page).toHaveURL(/\/vms$/);
}

/**
 * Write actions a viewer must never find enabled: buttons and menu items
 * whose name starts with one (a disabled menu item's name goes on with why).
 */
export const writeActions = /^(create|start|stop|force|reboot|pause|resume|delete|adopt|reset state|revoke)\b/i;

export const test = base.extend<{ sim: DaemonInfo; libvirt: DaemonInfo }>({
  // eslint-disable-next-line no-empty-pattern
  sim: async ({}, provide) => provide(daemon('sim')),
  // eslint-disable-next-line no-empty-pattern
  libvirt: async ({}, provide) => provide(daemon('libvirt')),
});

export { api };
