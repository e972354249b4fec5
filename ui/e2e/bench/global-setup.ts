// Global setup of the console's benchmarks: two `quantixd dev` daemons on the
// simulated backend, one with an empty inventory and one whose host holds
// 10,000 VMs (pre-populated, host-discovered, in a mix of states), waiting
// until the inventory holds them all.
import type { FullConfig } from '@playwright/test';
import type { ChildProcess } from 'node:child_process';
import { api, binaries, startDaemon, until, type DaemonInfo } from '../harness/daemon';
import { stopProc } from '../harness/global-setup';

export const bigInventory = Number(process.env.QUANTIX_BENCH_VMS ?? 10_000);

/** countVMs pages through GET /api/vms. */
export async function countVMs(d: DaemonInfo): Promise<number> {
  let n = 0;
  let cursor = '';
  do {
    const r = await api<{ vms: unknown[]; next_cursor: string }>(d, 'GET', `/api/vms?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    n += r.vms.length;
    cursor = r.next_cursor;
  } while (cursor);
  return n;
}

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  const bins = binaries();
  const procs: ChildProcess[] = [];
  const stop = () => Promise.all(procs.map(stopProc)).then(() => undefined);
  try {
    const empty = await startDaemon(bins, { kind: 'sim', name: 'bench-empty' });
    procs.push(empty.proc);
    const big = await startDaemon(bins, { kind: 'sim', name: 'bench-big', simVMs: bigInventory });
    procs.push(big.proc);
    const t0 = Date.now();
    await until(`the inventory to hold ${bigInventory} VMs`, 300_000, async () => {
      const n = await countVMs(big.info);
      if (n < bigInventory) throw new Error(`${n} VMs so far`);
    });
    console.log(`bench: inventory of ${bigInventory} VMs synced in ${Date.now() - t0} ms`);
    process.env.QUANTIX_E2E_DAEMONS = JSON.stringify({ empty: empty.info, big: big.info });
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}
