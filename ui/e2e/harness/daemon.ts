// Starts and stops real quantixd processes for the browser tests: `quantixd
// dev` on free loopback ports with a data directory of its own, driving the
// simulated backend (plugins/sim, with its control socket so that tests can
// change the host behind Quantix's back) or real libvirt/QEMU on
// qemu:///system.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const e2eDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const uiDir = resolve(e2eDir, '..');
export const repoRoot = resolve(uiDir, '..');

/** Binaries: quantixd (built with -tags webui) and its plugin directory. */
export interface Binaries {
  quantixd: string;
  pluginDir: string;
}

/** What a test needs to reach one daemon; JSON, handed from the global setup to the workers. */
export interface DaemonInfo {
  kind: 'sim' | 'libvirt';
  pid: number;
  url: string;
  dataDir: string;
  logFile: string;
  nodeName: string;
  adminPassword: string;
  adminToken: string;
  viewerPassword: string;
  /** The sim plugin's control socket ('' on libvirt). */
  controlSocket: string;
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): void {
  try {
    execFileSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${opts.cwd}) failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

const plugins: Record<string, { pkg: string; cgo: boolean }> = {
  'quantix-backend-sim': { pkg: './plugins/sim/cmd/quantix-backend-sim', cgo: false },
  'quantix-backend-libvirt': { pkg: './plugins/libvirt/cmd/quantix-backend-libvirt', cgo: true },
};

/**
 * binaries returns quantixd and its plugins: those `make build` made when
 * QUANTIX_BIN_DIR names its bin/ directory, else builds them under .build/
 * (the console first, `npm run build` in ui/, when core/webui/dist has none
 * or is older than a source).
 */
export function binaries(): Binaries {
  const bin = process.env.QUANTIX_BIN_DIR;
  if (bin) {
    const b = { quantixd: join(bin, 'quantixd'), pluginDir: join(bin, 'plugins') };
    for (const p of [b.quantixd, ...Object.keys(plugins).map((n) => join(b.pluginDir, n))]) {
      if (!existsSync(p)) throw new Error(`QUANTIX_BIN_DIR=${bin}: ${p} is missing; run make build`);
    }
    return b;
  }
  const out = join(e2eDir, '.build');
  const pluginDir = join(out, 'plugins');
  mkdirSync(pluginDir, { recursive: true });
  const built = join(repoRoot, 'core/webui/dist/index.html');
  if (!existsSync(built) || newerThan(statSync(built).mtimeMs, ['src', 'index.html', 'package-lock.json', 'vite.config.ts', 'public'].map((p) => join(uiDir, p)))) {
    if (!existsSync(join(uiDir, 'node_modules'))) run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: uiDir });
    run('npm', ['run', 'build'], { cwd: uiDir });
  }
  run('go', ['build', '-tags', 'webui', '-o', join(out, 'quantixd'), './cmd/quantixd'], { cwd: repoRoot, env: { CGO_ENABLED: '0' } });
  for (const [name, p] of Object.entries(plugins)) {
    run('go', ['build', '-o', join(pluginDir, name), p.pkg], { cwd: repoRoot, env: { CGO_ENABLED: p.cgo ? '1' : '0' } });
    // quantixd refuses plugins that others than their owner may replace.
    chmodSync(join(pluginDir, name), 0o755);
  }
  chmodSync(pluginDir, 0o755);
  return { quantixd: join(out, 'quantixd'), pluginDir };
}

/** newerThan reports whether a file under paths was changed after t (ms). */
function newerThan(t: number, paths: string[]): boolean {
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const st = statSync(p);
    if (st.mtimeMs > t) return true;
    if (st.isDirectory() && newerThan(t, readdirSync(p).map((n) => join(p, n)))) return true;
  }
  return false;
}

/** freePort asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

export interface StartOptions {
  kind: 'sim' | 'libvirt';
  /** Pre-populates the simulated host with this many (host-discovered) VMs. */
  simVMs?: number;
  /** Name of the run, in the node name and the data directory's name. */
  name?: string;
}

/** until polls cond (which throws while not ready) until it returns, or fails after ms with its last error. */
export async function until<T>(what: string, ms: number, cond: () => Promise<T>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await cond();
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`waiting ${ms} ms for ${what}: ${last instanceof Error ? last.message : String(last)}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** api calls the daemon's REST API with the admin token and returns the decoded reply, failing on a status over 299. */
export async function api<T = unknown>(d: Pick<DaemonInfo, 'url' | 'adminToken'>, method: string, path: string, body?: unknown): Promise<T> {
  const resp = await fetch(d.url + path, {
    method,
    headers: { Authorization: `Bearer ${d.adminToken}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (resp.status > 299) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * startDaemon runs `quantixd dev` with its own data directory and config on
 * free loopback ports, waits until it answers and its node is READY, checks
 * that it serves the console (not the page saying it is not built in), and
 * makes the user `viewer` (role viewer).
 */
export async function startDaemon(bins: Binaries, opts: StartOptions): Promise<{ info: DaemonInfo; proc: ChildProcess }> {
  // A short base keeps the control socket's path under the 108 bytes of sun_path.
  const dir = mkdtempSync(join(tmpdir(), `qx-ui-${opts.name ?? opts.kind}-`));
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const nodeName = `${opts.name ?? opts.kind}-${process.pid}`;
  const controlSocket = opts.kind === 'sim' ? join(dir, 'sim.sock') : '';
  const backend =
    opts.kind === 'sim'
      ? `agent {
  backend = "sim"
}
plugin "sim" {
  config {
    hostname       = ${JSON.stringify(nodeName)}
    log_dir        = ${JSON.stringify(join(dir, 'vmlogs'))}
    control_socket = ${JSON.stringify(controlSocket)}
    vms            = { count = ${opts.simVMs ?? 0}, prefix = "pre" }
  }
}`
      : `plugin "libvirt" {
  config {
    uri       = "qemu:///system"
    image_dir = ${JSON.stringify(join(dir, 'images'))}
  }
}`;
  const config = `log_level = "info"
plugin_dir = ${JSON.stringify(bins.pluginDir)}
${backend}
`;
  writeFileSync(join(dir, 'quantix.hcl'), config, { mode: 0o600 });
  const logFile = join(dir, 'quantixd.log');
  const log = openSync(logFile, 'a');
  const args = ['dev', '-config', join(dir, 'quantix.hcl'), '-data-dir', join(dir, 'data'), '-http-addr', `127.0.0.1:${httpPort}`,
    '-rpc-addr', `127.0.0.1:${rpcPort}`, '-node-name', nodeName];
  const proc = spawn(bins.quantixd, args, { stdio: ['ignore', log, log], detached: false });
  let exited: string | undefined;
  proc.on('exit', (code, sig) => { exited = `exited with ${code ?? sig}`; });
  const url = `http://127.0.0.1:${httpPort}`;
  const info: DaemonInfo = {
    kind: opts.kind, pid: proc.pid ?? 0, url, dataDir: join(dir, 'data'), logFile, nodeName,
    adminPassword: '', adminToken: '', viewerPassword: 'viewer-e2e-password-1', controlSocket,
  };
  const tail = () => readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
  try {
    await until(`quantixd ${args.join(' ')} to answer on ${url}`, 60_000, async () => {
      if (exited) throw new Error(`quantixd ${exited}`);
      const r = await fetch(url + '/api/health');
      if (!r.ok) throw new Error(`GET /api/health: ${r.status}`);
    });
    info.adminPassword = readFileSync(join(info.dataDir, 'admin-password'), 'utf8').trim();
    info.adminToken = readFileSync(join(info.dataDir, 'admin-token'), 'utf8').trim();
    await until(`node ${nodeName} to be READY with a healthy backend`, 60_000, async () => {
      const n = await api<{ state: string; backend?: { healthy: boolean } }>(info, 'GET', `/api/nodes/${nodeName}`);
      if (n.state !== 'READY' || !n.backend?.healthy) throw new Error(`node is ${JSON.stringify(n)}`);
    });
    const index = await (await fetch(url + '/')).text();
    if (!/<script[^>]+type="module"/.test(index)) {
      throw new Error(`${bins.quantixd} serves no console at / (built without -tags webui?); run make build. It served:\n${index.slice(0, 500)}`);
    }
    await api(info, 'POST', '/api/users', { name: 'viewer', password: info.viewerPassword, role: 'viewer' });
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\nlast lines of ${logFile}:\n${tail()}`, { cause: err });
  }
  return { info, proc };
}

/** isSocket reports whether path is a unix socket. */
export function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}
