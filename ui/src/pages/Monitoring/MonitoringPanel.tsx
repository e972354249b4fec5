import { Alert, Content, Grid, GridItem, Skeleton } from '@patternfly/react-core';
import { isApiError } from '../../api/client';
import { StatsChart } from './StatsChart';
import { formatBytes, formatPercent, formatPerSecond, formatRate, seriesOf, useStats } from './stats';

const spanMs = 15 * 60 * 1000;

/**
 * The Monitoring tab of a VM or a node: CPU %, memory, disk and network
 * rates over the last 15 minutes, refreshed every few seconds.
 */
export function MonitoringPanel({ kind, id }: { kind: 'vms' | 'nodes'; id: string }) {
  const q = useStats(kind, id);
  const what = kind === 'vms' ? 'VM' : 'node';
  if (q.isPending) return <Skeleton screenreaderText="Loading the statistics" />;
  if (q.isError) {
    const msg = isApiError(q.error) && q.error.status === 503 ? 'This server keeps no statistics.' : q.error.message;
    return <Alert variant="danger" isInline title={`The statistics cannot be read: ${msg}`} />;
  }
  const pts = q.data.points;
  const now = q.dataUpdatedAt;
  if (pts.length === 0) {
    return (
      <Content component="p">
        No statistics for this {what} in the last 15 minutes. They come every few seconds once it runs on a node whose backend offers them.
      </Content>
    );
  }
  const charts = [
    {
      title: 'CPU',
      series: [seriesOf(pts, kind === 'vms' ? 'of its vCPUs' : 'of the host', (p) => p.cpu_percent)],
      format: formatPercent,
      min: 100,
    },
    {
      title: 'Memory',
      series: [seriesOf(pts, 'assigned', (p) => p.memory_bytes), seriesOf(pts, 'resident', (p) => p.memory_rss_bytes)],
      format: formatBytes,
      min: 0,
    },
    {
      title: 'Disk',
      series: [seriesOf(pts, 'read', (p) => p.disk_read_bps), seriesOf(pts, 'write', (p) => p.disk_write_bps)],
      format: formatRate,
      min: 1024,
    },
    {
      title: 'Disk operations',
      series: [seriesOf(pts, 'reads', (p) => p.disk_read_iops), seriesOf(pts, 'writes', (p) => p.disk_write_iops)],
      format: formatPerSecond,
      min: 1,
    },
    {
      title: 'Network',
      series: [seriesOf(pts, 'received', (p) => p.net_rx_bps), seriesOf(pts, 'sent', (p) => p.net_tx_bps)],
      format: formatRate,
      min: 1024,
    },
    {
      title: 'Network packets',
      series: [seriesOf(pts, 'received', (p) => p.net_rx_pps), seriesOf(pts, 'sent', (p) => p.net_tx_pps)],
      format: formatPerSecond,
      min: 1,
    },
  ];
  return (
    <>
      <Content component="small">
        Every {q.data.step_seconds.toFixed(0)} s{q.data.source === 'history' ? ' (averaged history)' : ''}, refreshed live.
      </Content>
      <Grid hasGutter style={{ marginTop: 8 }}>
        {charts.map((c) => (
          <GridItem key={c.title} md={6} xl={4}>
            <StatsChart title={c.title} series={c.series} format={c.format} min={c.min} spanMs={spanMs} now={now} />
          </GridItem>
        ))}
      </Grid>
    </>
  );
}
