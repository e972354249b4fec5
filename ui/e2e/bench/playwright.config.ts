// The console's benchmarks (`make bench`): Playwright with Debian's Chromium
// against two simulated-backend daemons (bench/global-setup.ts). Each
// benchmark prints its figures; a figure over its target fails it.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: /.*\.bench\.ts$/,
  globalSetup: './global-setup.ts',
  workers: 1,
  fullyParallel: false,
  timeout: 300_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  outputDir: '../test-results/bench',
  use: {
    launchOptions: { executablePath: process.env.QUANTIX_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] },
    viewport: { width: 1440, height: 900 },
  },
});
