import { Link } from 'react-router';
import type { NodeStreamEvent, VMStreamEvent } from '../api/types';

/** The VM or node an event is about, as a link to its page. */
export function EventSubject({ ev, vmNames }: { ev: VMStreamEvent | NodeStreamEvent; vmNames?: Record<string, string> }) {
  if (ev.kind === 'vm') {
    const name = vmNames?.[ev.vm_id];
    return (
      <Link to={`/vms/${encodeURIComponent(ev.vm_id)}`} title={ev.vm_id}>
        VM {name ?? shortId(ev.vm_id)}
      </Link>
    );
  }
  return <Link to={`/nodes/${encodeURIComponent(ev.node_id)}`}>Node {ev.node_name || shortId(ev.node_id)}</Link>;
}

/** A long id shortened for a table cell (the full id stays in the title). */
export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

/** The state change of an event, "STOPPED → RUNNING", or the new state alone. */
export function stateChange(ev: { old_state: string; new_state: string }): string {
  if (ev.old_state && ev.new_state && ev.old_state !== ev.new_state) return `${ev.old_state} → ${ev.new_state}`;
  return ev.new_state || ev.old_state || '';
}

/** A time as the browser's locale shows it, with the full time in the title. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return <span>{iso}</span>;
  return (
    <time dateTime={iso} title={iso}>
      {d.toLocaleString()}
    </time>
  );
}

/** "12 s ago", "5 min ago": how long ago a time was, from now. */
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${String(s)} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${String(m)} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${String(h)} h ago`;
  return `${String(Math.round(h / 24))} days ago`;
}
