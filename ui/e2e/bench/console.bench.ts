// Benchmarks of the web console, in one Chromium run:
//   - the VMs page with 10,000 VMs stored against an empty inventory: time
//     from navigation start to the first page of rows (or the empty state) on
//     screen (target: at most 1 s and at most 1.5x empty);
//   - one VM's state change from the API event reaching the browser to its
//     row updated on screen, p50/p99 (target p99 at most 500 ms);
//   - the gzipped JavaScript the first page loads (target at most 400 KiB);
//   - UI logger requests for 1,000 logged clicks made within a minute, as fast
//     as the page takes them (target at most 10: ten full batches), and the
//     figure for clicks paced evenly over the minute (reported).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from '@playwright/test';
import { expect, test } from '@playwright/test';
import { api, type DaemonInfo } from '../harness/daemon';
import { login, simControl, whoami } from '../harness/fixtures';

const daemons = () => JSON.parse(process.env.QUANTIX_E2E_DAEMONS ?? '{}') as Record<'empty' | 'big', DaemonInfo>;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const ms = (x: number) => `${x.toFixed(1)} ms`;

function report(name: string, lines: string[]): void {
  console.log(`\n${name}\n${lines.map((l) => `  ${l}`).join('\n')}`);
  test.info().annotations.push({ type: name, description: lines.join('; ') });
}

async function loggedIn(browser: Browser, d: DaemonInfo): Promise<Page> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await login(page, d);
  return page;
}

/**
 * firstRows navigates to /vms and returns the time from navigation start to
 * the first animation frame in which the table shows VM rows (links to a
 * VM's page) or the empty state.
 */
async function firstRows(page: Page, url: string): Promise<number> {
  await page.goto(url + '/vms', { waitUntil: 'commit' });
  const t = await page.waitForFunction(
    () => {
      const rows = document.querySelectorAll('table tbody tr a[href^="/vms/"]');
      const empty = document.querySelector('[class*="empty-state"]');
      return rows.length > 0 || empty ? performance.now() : 0;
    },
    undefined,
    { polling: 'raf', timeout: 30_000 },
  );
  return (await t.jsonValue()) as number;
}

/**
 * phases says where the last load of /vms spent its time, from navigation
 * start: the document, the scripts (the last one loaded), the session
 * check and the list of VMs (when each was asked for and answered).
 */
async function phases(page: Page): Promise<string> {
  return page.evaluate(() => {
    const f = (x: number) => x.toFixed(0);
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    const res = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
    const one = (what: string, pick: (r: PerformanceResourceTiming) => boolean) => {
      const r = res.find(pick);
      return r ? `${what} ${f(r.startTime)}-${f(r.responseEnd)}` : `${what} -`;
    };
    const scripts = res.filter((r) => r.initiatorType === 'script' || r.name.endsWith('.js'));
    const lastScript = Math.max(0, ...scripts.map((r) => r.responseEnd));
    return [
      `document ${f(nav?.responseEnd ?? 0)}`,
      `scripts (${scripts.length}) loaded by ${f(lastScript)}`,
      one('whoami', (r) => r.name.includes('/api/auth/whoami')),
      one('VM list', (r) => r.name.includes('/api/vms?')),
      `DOMContentLoaded ${f(nav?.domContentLoadedEventEnd ?? 0)}`,
    ].join(', ');
  });
}

test('VMs page: 10,000 VMs against an empty inventory', async ({ browser }) => {
  const { empty, big } = daemons();
  const stored = (await api<{ vms: unknown[] }>(big, 'GET', '/api/vms?limit=1000')).vms.length;
  expect(stored).toBe(1000);
  const runs = 7;
  const pages = { empty: await loggedIn(browser, empty), big: await loggedIn(browser, big) };
  const times: Record<'empty' | 'big', number[]> = { empty: [], big: [] };
  // Alternate, so that both see the same machine load; the first visit of each warms the cache.
  for (let i = 0; i < runs + 1; i++) {
    for (const k of ['empty', 'big'] as const) {
      const t = await firstRows(pages[k], daemons()[k].url);
      if (i > 0) times[k].push(t);
    }
  }
  const where = { empty: await phases(pages.empty), big: await phases(pages.big) };
  const e = quantile(times.empty, 0.5);
  const b = quantile(times.big, 0.5);
  report('VMs page, navigation to first rows on screen (median of 7, warm cache)', [
    `empty inventory: ${ms(e)} (runs: ${times.empty.map((x) => x.toFixed(0)).join(', ')})`,
    `10,000 VMs:      ${ms(b)} (runs: ${times.big.map((x) => x.toFixed(0)).join(', ')})`,
    `ratio:           ${(b / e).toFixed(2)}x (target at most 1.5x, and at most 1000 ms)`,
    `where the last load went (ms from navigation start), empty: ${where.empty}`,
    `where the last load went (ms from navigation start), 10,000 VMs: ${where.big}`,
  ]);
  expect.soft(b, '10,000 VMs: first rows within 1 s').toBeLessThanOrEqual(1000);
  expect.soft(b / e, '10,000 VMs against empty').toBeLessThanOrEqual(1.5);
});

test("one VM's state change: API event to row updated", async ({ browser }) => {
  const { empty: d } = daemons();
  const name = 'bench-state';
  const vm = await api<{ id: string }>(d, 'POST', '/api/vms', { name, vcpus: 1, memory_mib: 64 });
  await api(d, 'POST', `/api/vms/${vm.id}/start`);
  const page = await loggedIn(browser, d);
  await page.goto(d.url + '/vms');
  await expect(page.getByRole('row').filter({ hasText: name })).toContainText('RUNNING');
  // In the page: an EventSource of our own stamps the event's arrival; a
  // MutationObserver stamps the frame the row shows the new state.
  await page.evaluate(
    ({ id, name }) => {
      const w = window as unknown as { bench: { want: string; ev: number; dom: number } };
      w.bench = { want: '', ev: 0, dom: 0 };
      const es = new EventSource('/api/events');
      es.addEventListener('vm', (e) => {
        const data = JSON.parse((e as MessageEvent).data);
        if (data.vm_id === id && data.new_state === w.bench.want && !w.bench.ev) w.bench.ev = performance.now();
      });
      const row = () => [...document.querySelectorAll('tr')].find((tr) => tr.textContent?.includes(name));
      new MutationObserver(() => {
        if (w.bench.want && !w.bench.dom && row()?.textContent?.includes(w.bench.want)) w.bench.dom = performance.now();
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    },
    { id: vm.id, name },
  );
  const lat: number[] = [];
  const n = 100;
  for (let i = 0; i < n; i++) {
    const want = i % 2 === 0 ? 'PAUSED' : 'RUNNING';
    await page.evaluate((want) => {
      (window as unknown as { bench: { want: string; ev: number; dom: number } }).bench = { want, ev: 0, dom: 0 };
    }, want);
    await simControl(d, { op: 'set_state', vm: name, state: want });
    const got = await page.waitForFunction(() => {
      const b = (window as unknown as { bench: { ev: number; dom: number } }).bench;
      return b.ev && b.dom ? b.dom - b.ev : null;
    }, undefined, { timeout: 10_000 });
    lat.push((await got.jsonValue()) as number);
  }
  const p50 = quantile(lat, 0.5);
  const p99 = quantile(lat, 0.99);
  report(`state change, event in the browser to row updated (${n} changes)`, [
    `p50 ${ms(p50)}, p99 ${ms(p99)}, max ${ms(Math.max(...lat))} (target p99 at most 500 ms)`,
  ]);
  expect.soft(p99).toBeLessThanOrEqual(500);
});

test('JavaScript of the first page, gzipped', async ({ browser }) => {
  const { empty: d } = daemons();
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const loaded = new Map<string, number>();
  page.on('response', async (r) => {
    if (r.request().resourceType() === 'script' && r.ok()) {
      const body = await r.body().catch(() => Buffer.alloc(0));
      loaded.set(new URL(r.url()).pathname, gzipSync(body, { level: 9 }).length);
    }
  });
  const sum = () => [...loaded.values()].reduce((a, b) => a + b, 0);
  await page.goto(d.url + '/login');
  await expect(page.getByRole('button', { name: /^log ?in$/i })).toBeVisible();
  const loginJS = sum();
  const loginFiles = loaded.size;
  await login(page, d);
  await expect(page.getByRole('heading', { level: 1 }).first()).toBeVisible();
  const dashJS = sum();
  await page.goto(d.url + '/vms');
  await expect(page.getByRole('heading', { level: 1 }).first()).toBeVisible();
  const kib = (x: number) => `${(x / 1024).toFixed(1)} KiB`;
  report('JavaScript, gzipped (level 9) as the browser loaded it', [
    `login page: ${kib(loginJS)} in ${loginFiles} files`,
    `login + dashboard (the first page after logging in): ${kib(dashJS)} in ${loaded.size} files so far`,
    `after opening the VMs page too: ${kib(sum())} (target for the first page at most 400 KiB)`,
  ]);
  expect.soft(dashJS).toBeLessThanOrEqual(400 * 1024);
});

interface LoggerRun {
  /** Requests to /api/logs/ui from the first click to a minute after it. */
  inMinute: number;
  /** Entries those requests carried. */
  entries: number;
  /** How long the 1,000 clicks took. */
  clickedMs: number;
  /** Requests the server answered for the session, the flush at close included. */
  served: number;
  /** Click entries stored for the session. */
  kept: number;
}

/**
 * loggerRun clicks the dashboard's Refresh (a LoggedButton) 1,000 times,
 * either as fast as the page takes the clicks or paced evenly over one
 * minute, and counts the UI logger's requests within the minute from the
 * first click. What the page logged before (its navigation) is sent first,
 * so the count is the clicks' alone.
 */
async function loggerRun(browser: Browser, d: DaemonInfo, paced: boolean): Promise<LoggerRun> {
  const page = await loggedIn(browser, d);
  const firstPost = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/logs/ui', { timeout: 30_000 });
  await page.goto(d.url + '/');
  const refresh = page.getByRole('button', { name: /refresh/i }).first();
  await expect(refresh).toBeVisible();
  // The navigation's entries go at the logger's next tick: wait for them.
  await firstPost;
  const posts: number[] = [];
  let entries = 0;
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/logs/ui') {
      posts.push(Date.now());
      try {
        entries += (JSON.parse(r.postData() ?? '{}').logs ?? []).length;
      } catch {
        // counted as a request all the same
      }
    }
  });
  const clicks = 1000;
  const minute = 60_000;
  const t0 = Date.now();
  // The clicks are made in the page: a click of the mouse through the
  // browser's protocol takes about 100 ms on a busy machine, so 1,000 of
  // them would not fit in the minute. The page takes each click as its
  // event loop comes round, as it would a user's.
  await refresh.evaluate(
    async (b, { n, spread }) => {
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        const wait = start + (i * spread) / n - performance.now();
        await new Promise((r) => setTimeout(r, Math.max(0, wait)));
        (b as HTMLButtonElement).click();
      }
    },
    { n: clicks, spread: paced ? minute : 0 },
  );
  const clickedMs = Date.now() - t0;
  if (clickedMs < minute) await page.waitForTimeout(minute - clickedMs);
  const inMinute = posts.filter((t) => t - t0 <= minute).length;
  const sid = `session:${(await whoami(page)).session_id}`;
  // What is left goes when the page is hidden or closed (fetch with keepalive,
  // which the closed page no longer reports): count on the server's side.
  await page.close({ runBeforeUnload: true });
  const stored = async () => {
    let n = 0;
    let cursor = '';
    do {
      const r = await api<{ logs: Array<{ action?: string; target?: string }>; next_cursor: string }>(d, 'GET',
        `/api/logs?source=ui&session_id=${encodeURIComponent(sid)}&q=Refresh&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      n += r.logs.filter((l) => l.action === 'click' && l.target === 'Refresh').length;
      cursor = r.next_cursor;
    } while (cursor);
    return n;
  };
  let kept = 0;
  await expect.poll(async () => (kept = await stored()), { timeout: 30_000 }).toBeGreaterThanOrEqual(clicks).catch(() => undefined);
  const served = readFileSync(d.logFile, 'utf8').split('\n').filter((l) => l.includes('path=/api/logs/ui ') && l.includes(sid)).length;
  return { inMinute, entries, clickedMs, served, kept };
}

// A batch holds at most 100 entries, so 1,000 clicks need 10 requests at
// the least; a full batch is sent at once. The target holds for clicks made
// as fast as a user can: 10 requests of 100.
test('UI logger: requests for 1,000 logged clicks made within a minute', async ({ browser }) => {
  test.setTimeout(180_000);
  const { empty: d } = daemons();
  const r = await loggerRun(browser, d, false);
  report('UI logger, 1,000 clicks on Refresh as fast as the page takes them', [
    `requests to /api/logs/ui within the minute from the first click: ${r.inMinute} (target at most 10), carrying ${r.entries} entries; the clicks took ${r.clickedMs} ms`,
    `requests the server answered for the session, its first batch and the flush at close included: ${r.served}`,
    `click entries stored for the session: ${r.kept} of 1000`,
  ]);
  expect.soft(r.kept, 'every click stored').toBeGreaterThanOrEqual(1000);
  expect(r.inMinute, '1,000 clicks within a minute: at most 10 requests').toBeLessThanOrEqual(10);
});

// Spread evenly over the whole minute (one click every 60 ms), the clicks
// fill a batch only every 6 s, while the logger sends what waits every 5 s
// (the issue's cadence, kept): it holds a partial batch over one tick when
// entries still come fast enough to fill it, but an entry never waits more
// than two ticks, so some batches go out partial and the count comes out a
// little above 10 (11 within the minute, measured, and one more for the
// last entries after it). Reported, not a target.
test('UI logger: requests for 1,000 logged clicks paced evenly over a minute', async ({ browser }) => {
  test.setTimeout(180_000);
  const { empty: d } = daemons();
  const r = await loggerRun(browser, d, true);
  report('UI logger, 1,000 clicks on Refresh paced evenly over one minute', [
    `requests to /api/logs/ui within the minute: ${r.inMinute}, carrying ${r.entries} entries (at least 10; the 5 s cadence sends some batches partial); the clicks took ${r.clickedMs} ms`,
    `requests the server answered for the session, its first batch and the flush at close included: ${r.served}`,
    `click entries stored for the session: ${r.kept} of 1000`,
  ]);
  expect.soft(r.kept, 'every click stored').toBeGreaterThanOrEqual(1000);
});
