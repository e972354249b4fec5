// Statistics of VMs and nodes (GET /api/vms/{id}/stats,
// /api/nodes/{id}/stats, /api/stats/top; docs/stats.md): types, queries
// and the pure logic of the Monitoring tabs (formatting, chart geometry).

import { useQuery } from '@tanstack/react-query';
import { api } from '../../api/client';

export interface StatPoint {
  t: string;
  vcpus: number;
  cpu_percent: number;
  cpu_cores: number;
  memory_bytes: number;
  memory_rss_bytes: number;
  disk_read_bps: number;
  disk_write_bps: number;
  disk_read_iops: number;
  disk_write_iops: number;
  net_rx_bps: number;
  net_tx_bps: number;
  net_rx_pps: number;
  net_tx_pps: number;
}

export interface StatsReply {
  vm_id?: string;
  node_id: string;
  since: string;
  step_seconds: number;
  source: 'memory' | 'history';
  points: StatPoint[];
}

export interface TopVM extends StatPoint {
  vm_id: string;
  name: string;
  node_id: string;
}

/** How often the Monitoring tabs and the busiest VMs refresh. */
export const refreshMs = 5000;

export function useStats(kind: 'vms' | 'nodes', id: string, since = '15m') {
  return useQuery({
    queryKey: ['stats', kind, id, since],
    queryFn: ({ signal }) =>
      api.get<StatsReply>(`/api/${kind}/${encodeURIComponent(id)}/stats`, { signal, query: { since } }),
    refetchInterval: refreshMs,
    enabled: id !== '',
  });
}

export function useTopVMs(limit = 5) {
  return useQuery({
    queryKey: ['stats', 'top', limit],
    queryFn: ({ signal }) => api.get<{ vms: TopVM[] }>('/api/stats/top', { signal, query: { limit } }),
    refetchInterval: refreshMs,
  });
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in binary units: 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${units[i] ?? 'B'}`;
}

/** A byte rate: "1.5 KiB/s". */
export function formatRate(bps: number): string {
  const b = formatBytes(bps);
  return b === '—' ? b : `${b}/s`;
}

/** An operation or packet rate: "12.5 /s", "1.2k /s". */
export function formatPerSecond(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M /s`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k /s`;
  return `${n.toFixed(n >= 100 ? 0 : 1)} /s`;
}

/** A percentage with one decimal: "12.3 %". */
export function formatPercent(p: number): string {
  if (!Number.isFinite(p)) return '—';
  return `${p.toFixed(1)} %`;
}

/** One series of a chart: values by time, in ms since the epoch. */
export interface Series {
  label: string;
  values: { t: number; v: number }[];
}

export function seriesOf(points: StatPoint[], label: string, pick: (p: StatPoint) => number): Series {
  return {
    label,
    values: points.map((p) => ({ t: Date.parse(p.t), v: pick(p) })).filter((x) => Number.isFinite(x.t) && Number.isFinite(x.v)),
  };
}

/** The top of a chart's scale: at least min, above every value, rounded up to 1, 2 or 5 × 10^n. */
export function niceMax(series: Series[], min: number): number {
  let m = min;
  for (const s of series) for (const x of s.values) if (x.v > m) m = x.v;
  if (m <= 0) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(m)));
  for (const f of [1, 2, 5, 10]) if (f * exp >= m) return f * exp;
  return 10 * exp;
}

/**
 * The SVG path of a series in a width × height box: time from t0 to t1
 * left to right, values from 0 to max bottom to top. Empty without values.
 */
export function pathOf(s: Series, t0: number, t1: number, max: number, width: number, height: number): string {
  if (s.values.length === 0 || t1 <= t0 || max <= 0) return '';
  return s.values
    .map((x, i) => {
      const px = ((x.t - t0) / (t1 - t0)) * width;
      const py = height - (Math.min(Math.max(x.v, 0), max) / max) * height;
      return `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`;
    })
    .join(' ');
}

/** The latest value of a series, or undefined. */
export function latest(s: Series): number | undefined {
  return s.values.length > 0 ? s.values[s.values.length - 1]?.v : undefined;
}
