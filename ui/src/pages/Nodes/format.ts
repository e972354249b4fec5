/** Memory in MiB as people read it: 512 MiB, 16 GiB, 1.5 TiB. */
export function formatMiB(mib: number | undefined | null): string {
  if (!mib || mib <= 0) return '—';
  if (mib < 1024) return `${String(mib)} MiB`;
  const gib = mib / 1024;
  if (gib < 1024) return `${trim(gib)} GiB`;
  return `${trim(gib / 1024)} TiB`;
}

function trim(n: number): string {
  return n >= 100 || Number.isInteger(n) ? String(Math.round(n)) : n.toFixed(1).replace(/\.0$/, '');
}
