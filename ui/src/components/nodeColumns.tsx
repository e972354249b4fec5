import { Link } from 'react-router';
import type { Node } from '../api/types';
import { formatMiB } from '../pages/Nodes/format';
import type { Column } from './DataTable';
import { ago } from './EventRow';
import { BackendHealth } from './NodeHealth';
import { StateLabel } from './StateLabel';

/** The columns a node can be shown with, for DataTable (the Nodes page, the dashboard). */
export const nodeColumns = {
  name: {
    title: 'Name',
    cell: (n) => <Link to={`/nodes/${encodeURIComponent(n.id)}`}>{n.name}</Link>,
  },
  state: {
    title: 'State',
    cell: (n) => (
      <>
        <StateLabel state={n.state} isCompact />
        {!n.connected && n.state === 'READY' ? ' (not connected)' : ''}
      </>
    ),
  },
  address: { title: 'Address', cell: (n) => n.address || '—' },
  host: { title: 'Host', cell: (n) => `${n.host.hostname || '—'} ${n.host.arch ? `(${n.host.arch})` : ''}` },
  cpus: { title: 'CPUs', cell: (n) => n.host.cpus || '—' },
  memory: { title: 'Memory', cell: (n) => formatMiB(n.host.memory_mib) },
  backend: { title: 'Backend', cell: (n) => <BackendHealth node={n} isCompact /> },
  vms: {
    title: 'VMs',
    cell: (n) => (
      <Link to={`/vms?node_id=${encodeURIComponent(n.id)}`} aria-label={`${String(n.vm_count)} VMs on ${n.name}`}>
        {n.vm_count}
      </Link>
    ),
  },
  heartbeat: { title: 'Heartbeat', cell: (n) => ago(n.last_heartbeat) },
} satisfies Record<string, Column<Node>>;

export const nodeKey = (n: Node) => n.id;
