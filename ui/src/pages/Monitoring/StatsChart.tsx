import { latest, niceMax, pathOf, type Series } from './stats';

const width = 320;
const height = 90;
const colors = ['var(--pf-t--global--color--brand--default, #0066cc)', 'var(--pf-t--global--color--status--warning--default, #dca614)'];

/**
 * A small line chart of one or two series drawn as SVG. Its accessible
 * name says what it shows and the latest value of each series, so that it
 * reads out (and tests find it) as a user sees it.
 */
export function StatsChart({
  title,
  series,
  format,
  min = 0,
  spanMs,
  now,
}: {
  title: string;
  series: Series[];
  format: (v: number) => string;
  min?: number;
  spanMs: number;
  now: number;
}) {
  const max = niceMax(series, min);
  const t1 = now;
  const t0 = now - spanMs;
  const summary = series
    .map((s) => {
      const v = latest(s);
      return `${s.label} ${v === undefined ? 'no data' : format(v)}`;
    })
    .join(', ');
  return (
    <figure className="qx-stats-chart" style={{ margin: 0 }}>
      <figcaption>
        <strong>{title}</strong>
        <span style={{ marginLeft: 8 }}>{summary}</span>
      </figcaption>
      <svg role="img" aria-label={`${title} chart: ${summary}`} viewBox={`0 0 ${String(width)} ${String(height)}`} width="100%" height={height} preserveAspectRatio="none">
        <line x1={0} y1={height - 0.5} x2={width} y2={height - 0.5} stroke="currentColor" strokeOpacity={0.3} />
        <line x1={0} y1={0.5} x2={width} y2={0.5} stroke="currentColor" strokeOpacity={0.15} strokeDasharray="4 4" />
        {series.map((s, i) => (
          <path key={s.label} d={pathOf(s, t0, t1, max, width, height)} fill="none" stroke={colors[i % colors.length]} strokeWidth={1.5} vectorEffect="non-scaling-stroke" />
        ))}
      </svg>
      <div style={{ display: 'flex', justifyContent: 'space-between', fontSize: 'var(--pf-t--global--font--size--xs, 12px)' }}>
        <span>0 – {format(max)}</span>
        <span>{series.length > 1 ? series.map((s, i) => `${i === 0 ? '━' : '┅'} ${s.label}`).join('  ') : ''}</span>
      </div>
    </figure>
  );
}
