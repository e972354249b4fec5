// The Console tab against `quantixd dev` on real libvirt/QEMU
// (qemu:///system): a VM created in the create dialog with direct kernel
// boot of the test guest (scripts/build-test-guest.sh) boots to its shell,
// whose prompt the Console tab shows, and a command typed there is run.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../harness/daemon';
import { expect, login, stateRE, test, uniqueName } from '../../harness/fixtures';

test.describe.configure({ mode: 'serial' });
// The guest boots in about 30 s under TCG on a shared machine.
test.setTimeout(300_000);

const name = uniqueName('e2e-lv-tty');
const virsh = (...args: string[]) => execFileSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
let guestDir = '';

test.beforeAll(() => {
  // mkdtemp makes a 0700 directory; QEMU's user must be able to enter it.
  guestDir = mkdtempSync(join(tmpdir(), 'quantix-e2e-guest-'));
  chmodSync(guestDir, 0o755);
  execFileSync('bash', [join(repoRoot, 'scripts', 'build-test-guest.sh'), guestDir], { stdio: ['ignore', 'pipe', 'pipe'] });
});

test.afterAll(() => {
  // Whatever a failed test left on the host goes.
  for (const args of [['destroy', name], ['undefine', '--nvram', name]]) {
    try {
      virsh(...args);
    } catch {
      // not there
    }
  }
  if (guestDir) rmSync(guestDir, { recursive: true, force: true });
});

test('the Console tab shows the booted guest prompt and runs a typed command', async ({ page, libvirt }) => {
  await login(page, libvirt);
  await page.goto(libvirt.url + '/vms');
  await page.getByRole('button', { name: /^create( vm| virtual machine)?$/i }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel(/^name/i).fill(name);
  await dialog.getByLabel(/^vcpus/i).fill('1');
  await dialog.getByLabel(/^memory/i).fill('256');
  const remove = dialog.getByRole('button', { name: /^remove disk/i });
  while (await remove.count()) await remove.first().click();
  await dialog.getByRole('checkbox', { name: /boot a linux kernel directly/i }).check();
  await dialog.getByRole('textbox', { name: /^kernel(?! command line)/i }).fill(join(guestDir, 'vmlinuz'));
  await dialog.getByLabel(/^initrd/i).fill(join(guestDir, 'initrd.img'));
  await dialog.getByLabel(/^kernel command line/i).fill('console=ttyS0 quiet');
  await dialog.getByRole('button', { name: /^create$/i }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();

  await page.getByRole('button', { name: /^actions$/i }).click();
  await page.getByRole('menuitem', { name: /^start$/i }).click();
  const header = page
    .getByRole('heading', { level: 1, name })
    .locator('xpath=ancestor::*[contains(concat(" ", @class, " "), " pf-v6-l-flex ")][1]');
  await expect(header).toContainText(stateRE('RUNNING'), { timeout: 60_000 });

  await page.getByRole('tab', { name: 'Console' }).click();
  await expect(page.getByRole('status', { name: 'Console status' })).toContainText(/^Connected/);
  const term = page.getByRole('region', { name: `Serial console of ${name}` });
  await term.click();
  // The shell's prompt may have been printed before the console opened:
  // Enter asks for a new one, again until the guest has booted to it.
  await expect(async () => {
    await page.keyboard.press('Enter');
    await expect(term).toContainText('/ #', { timeout: 5_000 });
  }).toPass({ timeout: 240_000 });

  // The command as typed echoes as ui-$((6*7)); only the shell's answer is ui-42.
  await page.keyboard.type('echo ui-$((6*7))');
  await page.keyboard.press('Enter');
  await expect(term).toContainText('ui-42', { timeout: 60_000 });
  expect(virsh('domstate', name).trim()).toBe('running');
});
