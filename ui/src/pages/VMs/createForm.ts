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
  if (f.description.trim()) req.description = f.description.trim();
  if (f.node_id) req.node_id = f.node_id;
  return req;
}
