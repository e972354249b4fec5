// Global setup of the browser tests: builds (or takes) quantixd with the
// console built in, starts one `quantixd dev` per backend the run needs, and
// hands their addresses and credentials to the tests in QUANTIX_E2E_DAEMONS.
// The function it returns stops the daemons when the run ends.
import type { FullConfig } from '@playwright/test';
import type { ChildProcess } from 'node:child_process';
import { binaries, startDaemon, type DaemonInfo } from './daemon';

/** The backends whose daemons a run starts: QUANTIX_E2E_BACKENDS (comma-separated), else both. */
export function backends(): Array<'sim' | 'libvirt'> {
  const raw = process.env.QUANTIX_E2E_BACKENDS ?? 'sim,libvirt';
  const out = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const b of out) {
    if (b !== 'sim' && b !== 'libvirt') throw new Error(`QUANTIX_E2E_BACKENDS: ${b} is not a backend; want sim and/or libvirt`);
  }
  return out as Array<'sim' | 'libvirt'>;
}

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  const bins = binaries();
  const procs: ChildProcess[] = [];
  const infos: Record<string, DaemonInfo> = {};
  const stop = async () => {
    await Promise.all(procs.map((p) => stopProc(p)));
  };
  try {
    for (const kind of backends()) {
      const { info, proc } = await startDaemon(bins, { kind, name: `e2e-${kind}` });
      procs.push(proc);
      infos[kind] = info;
    }
  } catch (err) {
    await stop();
    throw err;
  }
  process.env.QUANTIX_E2E_DAEMONS = JSON.stringify(infos);
  return stop;
}

/** stopProc ends a daemon with SIGTERM, SIGKILL after 20 s, and waits for it. */
export function stopProc(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.once('exit', () => {
      clearTimeout(kill);
      res();
    });
    p.kill('SIGTERM');
  });
}
