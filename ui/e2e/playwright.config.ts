// Browser tests of the web console in Debian's Chromium (/usr/bin/chromium,
// no browser download) against real quantixd daemons the global setup
// starts: project sim drives the simulated backend, project libvirt real
// QEMU on qemu:///system.
import { defineConfig } from '@playwright/test';

export const chromium = process.env.QUANTIX_CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: './tests',
  globalSetup: './harness/global-setup.ts',
  // One daemon per backend is shared: the tests of a file run in order, and
  // files one at a time (2 cores are all CI has).
  workers: 1,
  fullyParallel: false,
  timeout: 90_000,
  // The machine is shared: a page may take seconds to come up under load.
  expect: { timeout: 20_000 },
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    launchOptions: { executablePath: chromium, args: ['--no-sandbox'] },
    viewport: { width: 1440, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    { name: 'sim', testDir: './tests/sim' },
    { name: 'libvirt', testDir: './tests/libvirt' },
  ],
});
