// Queries of nodes, VM counts and users/tokens for the Dashboard, Nodes,
// Node detail, Events and Users pages, and how events of GET /api/events
// keep their caches current (no polling: UI-SPEC "Live data").

import { useQuery, type QueryClient } from '@tanstack/react-query';
import { api } from './client';
import type { Node, NodeList, NodeStreamEvent, VM, VMList, VMStreamEvent } from './types';

export const nodesKey = ['nodes', 'all'] as const;
export const nodeKey = (id: string) => ['nodes', 'one', id] as const;
export const nodeVMsKey = (id: string) => ['nodes', 'vms', id] as const;
export const vmCountsKey = ['vms', 'counts'] as const;

/** Upper bound of pages read to list every node or count every VM. */
const maxPages = 100;

/** Every page of a cursor-paged list, concatenated. */
async function allPages<T, R extends { next_cursor: string }>(
  path: string,
  pick: (r: R) => T[],
  query: Record<string, string>,
  signal?: AbortSignal,
): Promise<T[]> {
  const out: T[] = [];
  let cursor = '';
  for (let i = 0; i < maxPages; i++) {
    const r = await api.get<R>(path, { signal, query: { ...query, limit: 1000, cursor } });
    out.push(...pick(r));
    if (!r.next_cursor) break;
    cursor = r.next_cursor;
  }
  return out;
}

export function fetchAllNodes(signal?: AbortSignal): Promise<Node[]> {
  return allPages<Node, NodeList>('/api/nodes', (r) => r.nodes, {}, signal);
}

/** Every node, in name order. */
export function useNodes() {
  return useQuery({ queryKey: nodesKey, queryFn: ({ signal }) => fetchAllNodes(signal) });
}

export function useNode(id: string) {
  return useQuery({
    queryKey: nodeKey(id),
    queryFn: ({ signal }) => api.get<Node>(`/api/nodes/${encodeURIComponent(id)}`, { signal }),
  });
}

/** The VMs on a node (id or name), not TERMINATED ones. */
export function useNodeVMs(id: string, enabled = true) {
  return useQuery({
    queryKey: nodeVMsKey(id),
    enabled,
    queryFn: ({ signal }) => allPages<VM, VMList>('/api/vms', (r) => r.vms, { node_id: id }, signal),
  });
}

/** VM counts by state, over every VM that is not TERMINATED. */
export type StateCounts = Record<string, number>;

export function countByState(vms: readonly Pick<VM, 'state'>[]): StateCounts {
  const c: StateCounts = {};
  for (const v of vms) c[v.state] = (c[v.state] ?? 0) + 1;
  return c;
}

/** Every VM that is not TERMINATED, as counts by state and names by id. */
export interface VMIndex {
  counts: StateCounts;
  names: Record<string, string>;
}

export function useVMIndex() {
  return useQuery({
    queryKey: vmCountsKey,
    queryFn: async ({ signal }): Promise<VMIndex> => {
      const vms = await allPages<Pick<VM, 'id' | 'name' | 'state'>, VMList>('/api/vms', (r) => r.vms, {}, signal);
      const names: Record<string, string> = {};
      for (const v of vms) names[v.id] = v.name;
      return { counts: countByState(vms), names };
    },
  });
}

/**
 * A node after one of its events. Events are applied only when newer than
 * what the node shows (a replayed event changes nothing), so the same
 * stream may replay history into a fresh cache.
 */
export function applyNodeEvent(n: Node, ev: NodeStreamEvent): Node {
  const t = Date.parse(ev.time);
  const seen = Math.max(Date.parse(n.updated_at) || 0, Date.parse(n.last_heartbeat ?? '') || 0);
  if (!(t >= seen)) return n;
  const next: Node = { ...n, backend: { ...n.backend, healthy: ev.backend_healthy } };
  if (ev.new_state) next.state = ev.new_state;
  if (ev.action === 'heartbeat' || ev.action === 'register') {
    next.last_heartbeat = ev.time;
    next.connected = true;
  }
  if (ev.action === 'disconnect') next.connected = false;
  if (ev.backend_healthy) next.backend.error = '';
  return next;
}

/** VM actions after which lists by node and counts are read again. */
const listChanging = new Set(['create', 'discover', 'move', 'remove', 'discard', 'terminate', 'delete', 'migrate', 'found', 'lost']);

/**
 * Brings the caches of nodes, node VM lists and VM counts up to date with
 * one stream event. Node events are applied in place (applyNodeEvent); a
 * node the cache does not know yet makes the list be read again. A VM event
 * updates the VM's state in the node lists when it is newer than the VM's
 * record; counts and the lists a VM joined or left are read again, at most
 * once per refetchEvery (see the caller's throttle).
 */
export function applyStreamEvent(qc: QueryClient, ev: VMStreamEvent | NodeStreamEvent, refetch: (key: readonly unknown[]) => void): void {
  if (ev.kind === 'node') {
    let known = false;
    qc.setQueryData<Node[]>(nodesKey, (list) => {
      if (!list) return list;
      return list.map((n) => {
        if (n.id !== ev.node_id) return n;
        known = true;
        return applyNodeEvent(n, ev);
      });
    });
    const update = (n: Node | undefined) => (n && n.id === ev.node_id ? applyNodeEvent(n, ev) : n);
    qc.setQueryData<Node>(nodeKey(ev.node_id), update);
    qc.setQueryData<Node>(nodeKey(ev.node_name), update);
    if (!known && qc.getQueryData(nodesKey) !== undefined) refetch(nodesKey);
    return;
  }
  if (ev.old_state !== ev.new_state || listChanging.has(ev.action)) refetch(vmCountsKey);
  for (const [key, vms] of qc.getQueriesData<VM[]>({ queryKey: ['nodes', 'vms'] })) {
    if (!vms) continue;
    if (listChanging.has(ev.action)) {
      refetch(key);
      continue;
    }
    const i = vms.findIndex((v) => v.id === ev.vm_id);
    if (i < 0 || !ev.new_state || vms[i].state === ev.new_state) continue;
    if (!(Date.parse(ev.time) >= Date.parse(vms[i].updated_at))) continue;
    const next = vms.slice();
    next[i] = { ...vms[i], state: ev.new_state, updated_at: ev.time };
    qc.setQueryData(key, next);
  }
  if (listChanging.has(ev.action)) {
    refetch(nodesKey);
    refetch(['nodes', 'one']);
  }
}
