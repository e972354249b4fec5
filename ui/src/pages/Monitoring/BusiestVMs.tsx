import { Alert, Content, Skeleton } from '@patternfly/react-core';
import { Link } from 'react-router';
import { DataTable, type Column } from '../../components/DataTable';
import { formatBytes, formatPercent, formatRate, useTopVMs, type TopVM } from './stats';

const columns: Column<TopVM>[] = [
  { title: 'Name', cell: (v) => <Link to={`/vms/${encodeURIComponent(v.vm_id)}`}>{v.name}</Link> },
  { title: 'CPU', cell: (v) => formatPercent(v.cpu_percent) },
  { title: 'Memory', cell: (v) => formatBytes(v.memory_bytes) },
  { title: 'Disk', cell: (v) => formatRate(v.disk_read_bps + v.disk_write_bps) },
  { title: 'Network', cell: (v) => formatRate(v.net_rx_bps + v.net_tx_bps) },
];

/** The VMs using the most CPU now, refreshed live. */
export function BusiestVMs() {
  const q = useTopVMs(5);
  if (q.isPending) return <Skeleton screenreaderText="Loading the busiest VMs" />;
  if (q.isError) return <Alert variant="warning" isInline title={`The busiest VMs cannot be read: ${q.error.message}`} />;
  if (q.data.vms.length === 0) return <Content component="p">No running VM has reported statistics yet.</Content>;
  return <DataTable label="Busiest VMs" variant="compact" columns={columns} rows={q.data.vms} rowKey={(v) => v.vm_id} />;
}
