// The create dialog's form state and the request it makes.
import type { RestartPolicy } from '../../api/types';
import type { CreateVMRequest } from './api';

export interface DiskRow {
  name: string;
  size_gib: string;
  base_image: string;
  bus: string;
}

export interface NICRow {
  type: string;
  source: string;
  model: string;
  mac: string;
}

export interface CreateForm {
  name: string;
  description: string;
  vcpus: string;
  memory_mib: string;
  disks: DiskRow[];
  nics: NICRow[];
  boot: string[];
  /** Direct kernel boot: on when kernel_boot, with the three fields below. */
  kernel_boot: boolean;
  kernel: string;
  initrd: string;
  cmdline: string;
  restart_policy: string;
  labels: string;
  node_id: string;
}

export const newDisk = (): DiskRow => ({ name: '', size_gib: '10', base_image: '', bus: 'virtio' });
export const newNIC = (): NICRow => ({ type: 'user', source: '', model: 'virtio', mac: '' });

export const emptyForm = (): CreateForm => ({
  name: '',
  description: '',
  vcpus: '1',
  memory_mib: '1024',
  disks: [newDisk()],
  nics: [newNIC()],
  boot: ['hd'],
  kernel_boot: false,
  kernel: '',
  initrd: '',
  cmdline: 'console=ttyS0',
  restart_policy: 'never',
  labels: '',
  node_id: '',
});

/** parseLabels reads "key=value" lines (or comma-separated pairs); it throws naming the bad one. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/[\n,]/)) {
    const s = raw.trim();
    if (!s) continue;
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`labels: "${s}" is not key=value`);
    out[s.slice(0, eq).trim()] = s.slice(eq + 1).trim();
  }
  return out;
}

/** A whole number the form field holds; NaN stays NaN so the API names the field. */
const num = (s: string) => (s.trim() === '' ? 0 : Number(s));

/** buildRequest turns the form into the body of POST /api/vms; it throws for labels it cannot read. */
export function buildRequest(f: CreateForm): CreateVMRequest {
  const req: CreateVMRequest = {
    name: f.name.trim(),
    labels: parseLabels(f.labels),
    vcpus: num(f.vcpus),
    memory_mib: num(f.memory_mib),
    disks: f.disks.map((d) => ({
      name: d.name.trim(),
      size_gib: num(d.size_gib),
      base_image: d.base_image.trim(),
      bus: d.bus,
    })),
    nics: f.nics.map((n) => ({ type: n.type, source: n.source.trim(), model: n.model.trim(), mac: n.mac.trim() })),
    boot: f.boot.filter((b) => b !== ''),
    restart_policy: f.restart_policy as RestartPolicy,
  };
  if (f.kernel_boot) {
    req.kernel = f.kernel.trim();
    if (f.initrd.trim()) req.initrd = f.initrd.trim();
    if (f.cmdline.trim()) req.cmdline = f.cmdline.trim();
  }
  if (f.description.trim()) req.description = f.description.trim();
  if (f.node_id) req.node_id = f.node_id;
  return req;
}

/** The kernel command line's length limit (the API's, x86 Linux's). */
export const maxCmdlineLength = 2048;

/**
 * checkKernelBoot checks the direct kernel boot fields as the API will, so
 * the form says what to fix before sending: a kernel path, absolute paths
 * on the VM's node, a bounded command line. It returns messages by field.
 */
export function checkKernelBoot(f: CreateForm): Record<string, string> {
  const errs: Record<string, string> = {};
  if (!f.kernel_boot) return errs;
  const kernel = f.kernel.trim();
  const initrd = f.initrd.trim();
  const cmdline = f.cmdline.trim();
  if (kernel === '') errs.kernel = 'kernel: the path of the kernel on the node is needed for a direct kernel boot';
  else if (!kernel.startsWith('/')) errs.kernel = `kernel: "${kernel}" is not an absolute path; give the file's full path on the VM's node`;
  if (initrd !== '' && !initrd.startsWith('/'))
    errs.initrd = `initrd: "${initrd}" is not an absolute path; give the file's full path on the VM's node`;
  if (cmdline.length > maxCmdlineLength)
    errs.cmdline = `cmdline: ${cmdline.length} characters, at most ${maxCmdlineLength} allowed`;
  else if ([...cmdline].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) errs.cmdline = 'cmdline: control characters are not allowed; the command line is one line of text';
  return errs;
}
