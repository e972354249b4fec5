// The events of GET /api/events (docs/api.md, "The event stream") as the
// Events page and the dashboard keep them, and the Events page's filters.

import type { NodeStreamEvent, VMStreamEvent } from '../../api/types';

export type { NodeStreamEvent, VMStreamEvent };
export type StreamEvent = VMStreamEvent | NodeStreamEvent;

/** The VM actions (docs/vm-states.md, "VM events") and the node ones. */
export const VM_ACTIONS = [
  'create', 'start', 'stop', 'reboot', 'pause', 'resume', 'delete', 'reset_state', 'edit', 'adopt',
  'discard', 'discover', 'observe', 'move', 'found', 'lost', 'terminate', 'remove', 'migrate',
  'node_unreachable', 'stuck', 'restart', 'restart_give_up',
] as const;
export const NODE_ACTIONS = ['register', 'heartbeat', 'disconnect', 'unreachable', 'remove'] as const;
export const CAUSES = ['api', 'host', 'reconciler'] as const;

export interface EventFilters {
  /** Show node heartbeats (many, and rarely of interest). */
  heartbeats: boolean;
  /** vm, node or both (''). */
  kind: '' | 'vm' | 'node';
  /** A VM id (exact) */
  vm: string;
  /** A node id or name (exact). */
  node: string;
  action: string;
  cause: string;
}

export const emptyEventFilters = (): EventFilters => ({ kind: '', vm: '', node: '', action: '', cause: '', heartbeats: false });

export function eventFiltersFromQuery(search: string | URLSearchParams): EventFilters {
  const p = typeof search === 'string' ? new URLSearchParams(search) : search;
  const kind = p.get('kind') ?? '';
  return {
    kind: kind === 'vm' || kind === 'node' ? kind : '',
    vm: (p.get('vm') ?? '').trim(),
    node: (p.get('node') ?? '').trim(),
    action: (p.get('action') ?? '').trim(),
    cause: (p.get('cause') ?? '').trim(),
    heartbeats: p.get('heartbeats') === 'true',
  };
}

export function eventFiltersToQuery(f: EventFilters): string {
  const p = new URLSearchParams();
  if (f.kind) p.set('kind', f.kind);
  if (f.vm.trim()) p.set('vm', f.vm.trim());
  if (f.node.trim()) p.set('node', f.node.trim());
  if (f.action) p.set('action', f.action);
  if (f.cause) p.set('cause', f.cause);
  if (f.heartbeats) p.set('heartbeats', 'true');
  return p.toString();
}

/**
 * Whether an event passes the filters. Heartbeats pass only when asked for
 * (heartbeats, or the action filter naming them). vmNodes maps the VMs known to be on
 * the filtered node (their ids) so a node filter keeps its VMs' events; a
 * VM filter keeps only VM events, a cause filter only VM events (node events
 * have no cause).
 */
export function eventMatches(ev: StreamEvent, f: EventFilters, vmsOnNode?: ReadonlySet<string>): boolean {
  if (f.kind && ev.kind !== f.kind) return false;
  if (f.action && ev.action !== f.action) return false;
  if (!f.heartbeats && !f.action && ev.kind === 'node' && ev.action === 'heartbeat') return false;
  if (ev.kind === 'vm') {
    if (f.vm && ev.vm_id !== f.vm) return false;
    if (f.cause && ev.cause !== f.cause) return false;
    if (f.node && !(vmsOnNode?.has(ev.vm_id) ?? false)) return false;
    return true;
  }
  if (f.vm || f.cause) return false;
  if (f.node && ev.node_id !== f.node && ev.node_name !== f.node) return false;
  return true;
}

export { pushEvents } from '../../api/liveEvents';
