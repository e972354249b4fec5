import { describe, expect, it } from 'vitest';
import { formatBytes, formatPercent, formatPerSecond, formatRate, latest, niceMax, pathOf, seriesOf, type StatPoint } from './stats';

function pt(t: string, cpu: number, rx: number): StatPoint {
  return {
    t, vcpus: 2, cpu_percent: cpu, cpu_cores: cpu / 50, memory_bytes: 128 << 20, memory_rss_bytes: 64 << 20,
    disk_read_bps: 0, disk_write_bps: 0, disk_read_iops: 0, disk_write_iops: 0, net_rx_bps: rx, net_tx_bps: 0, net_rx_pps: 0, net_tx_pps: 0,
  };
}

describe('formatting', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(128 * 1024 * 1024)).toBe('128 MiB');
    expect(formatBytes(-1)).toBe('—');
    expect(formatBytes(Number.NaN)).toBe('—');
  });
  it('formats rates', () => {
    expect(formatRate(2048)).toBe('2.00 KiB/s');
    expect(formatRate(-5)).toBe('—');
    expect(formatPerSecond(12.34)).toBe('12.3 /s');
    expect(formatPerSecond(1234)).toBe('1.2k /s');
    expect(formatPerSecond(2.5e6)).toBe('2.5M /s');
    expect(formatPercent(12.345)).toBe('12.3 %');
  });
});

describe('series and chart geometry', () => {
  const pts = [pt('2026-01-01T00:00:00Z', 10, 100), pt('2026-01-01T00:00:10Z', 30, 300), pt('bad', 50, 1)];
  it('takes the values by time and leaves out unreadable points', () => {
    const s = seriesOf(pts, 'CPU', (p) => p.cpu_percent);
    expect(s.values).toEqual([
      { t: Date.parse('2026-01-01T00:00:00Z'), v: 10 },
      { t: Date.parse('2026-01-01T00:00:10Z'), v: 30 },
    ]);
    expect(latest(s)).toBe(30);
    expect(latest({ label: 'x', values: [] })).toBeUndefined();
  });
  it('rounds the scale up to 1, 2 or 5 times a power of ten', () => {
    expect(niceMax([seriesOf(pts, 'rx', (p) => p.net_rx_bps)], 0)).toBe(500);
    expect(niceMax([seriesOf(pts, 'cpu', (p) => p.cpu_percent)], 100)).toBe(100);
    expect(niceMax([{ label: 'z', values: [] }], 0)).toBe(1);
    expect(niceMax([{ label: 'a', values: [{ t: 0, v: 0.15 }] }], 0)).toBeCloseTo(0.2);
  });
  it('draws the path left to right, bottom to top, clamping to the scale', () => {
    const s = { label: 'x', values: [{ t: 0, v: 0 }, { t: 5, v: 50 }, { t: 10, v: 200 }] };
    expect(pathOf(s, 0, 10, 100, 200, 100)).toBe('M0.0,100.0 L100.0,50.0 L200.0,0.0');
    expect(pathOf({ label: 'e', values: [] }, 0, 10, 100, 200, 100)).toBe('');
    expect(pathOf(s, 10, 10, 100, 200, 100)).toBe('');
  });
});
