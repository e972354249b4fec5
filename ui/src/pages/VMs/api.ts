// The VM routes of the REST API (docs/api.md), their query keys and the cache
// updates made from the event stream.
import { keepPreviousData, useQuery, type QueryClient } from '@tanstack/react-query';
import { api } from '../../api/client';
import type {
  ActionResult,
  CreateVMRequest,
  Origin,
  VM,
  VMEvent,
  VMEventList,
  VMList,
  VMLogTail,
  VMState,
  VMStreamEvent,
} from '../../api/types';

export type { ActionResult, CreateVMRequest, VM, VMEvent, VMList, VMLogTail, VMState, VMStreamEvent };

export const vmStates: VMState[] = [
  'RUNNING',
  'STOPPED',
  'PAUSED',
  'SUSPENDED',
  'CRASHED',
  'CREATING',
  'STARTING',
  'STOPPING',
  'REBOOTING',
  'MIGRATING',
  'DELETING',
  'ERROR',
  'UNKNOWN',
  'LOST',
  'TERMINATED',
];

export const vmOrigins: Origin[] = ['control-plane', 'host-discovered', 'imported'];

export interface VMFilters {
  state?: string;
  node_id?: string;
  origin?: string;
  /** key=value label filters */
  labels?: string[];
  /** Search: a part of the name (any case) or the start of the id; the server matches it literally. */
  q?: string;
}

export type PowerAction = 'start' | 'stop' | 'reboot' | 'pause' | 'resume';

const path = (id: string) => `/api/vms/${encodeURIComponent(id)}`;

export function listVMs(f: VMFilters, limit: number, cursor: string, opts?: { noAuthRedirect?: boolean }): Promise<VMList> {
  const q = new URLSearchParams();
  if (f.state) q.set('state', f.state);
  if (f.node_id) q.set('node_id', f.node_id);
  if (f.origin) q.set('origin', f.origin);
  for (const l of f.labels ?? []) q.append('label', l);
  if (f.q) q.set('q', f.q);
  q.set('limit', String(limit));
  if (cursor) q.set('cursor', cursor);
  return api.get<VMList>(`/api/vms?${q.toString()}`, opts);
}

export const getVM = (id: string) => api.get<VM>(path(id));
export const createVM = (body: CreateVMRequest) => api.post<VM>('/api/vms', body);

export function powerAction(id: string, action: PowerAction, opts: { force?: boolean; timeoutSec?: number } = {}) {
  const q = new URLSearchParams();
  if (action === 'stop') {
    if (opts.force) q.set('force', 'true');
    else if (opts.timeoutSec) q.set('timeout', `${opts.timeoutSec}s`);
  }
  const qs = q.toString();
  return api.post<ActionResult>(`${path(id)}/${action}${qs ? `?${qs}` : ''}`);
}

export const deleteVM = (id: string, force = false) =>
  api.delete<ActionResult>(`${path(id)}${force ? '?force=true' : ''}`);
export const resetState = (id: string, force: boolean) =>
  api.post<ActionResult>(`${path(id)}/reset_state${force ? '?force=true' : ''}`);
export const adoptVM = (id: string) => api.post<ActionResult>(`${path(id)}/adopt`);
export const getVMLogs = (id: string, lines: number) => api.get<VMLogTail>(`${path(id)}/logs?lines=${lines}`);

export async function getVMEvents(id: string): Promise<VMEvent[]> {
  // The history is paged oldest first; a VM's history is short enough to read whole.
  const out: VMEvent[] = [];
  let cursor = '';
  for (let i = 0; i < 50; i++) {
    const page = await api.get<VMEventList>(
      `${path(id)}/events?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    out.push(...(page.events ?? []));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

export const vmKeys = {
  all: ['vms'] as const,
  lists: () => ['vms', 'list'] as const,
  list: (f: VMFilters, limit: number, cursor: string) => ['vms', 'list', f, limit, cursor] as const,
  detail: (id: string) => ['vms', 'detail', id] as const,
  events: (id: string) => ['vms', 'events', id] as const,
  logs: (id: string, lines: number) => ['vms', 'logs', id, lines] as const,
};

/** The page size the VMs page opens with. */
export const firstPageSize = 100;

/**
 * prefetchFirstVMPage reads the page the VMs page opens with (no filter,
 * firstPageSize VMs) into the cache, so that the page finds it there. The
 * console calls it at start on /vms, in parallel with the session check the
 * shell waits for; a 401 is left to that check.
 */
export function prefetchFirstVMPage(qc: QueryClient): Promise<void> {
  return qc.prefetchQuery({
    queryKey: vmKeys.list({}, firstPageSize, ''),
    queryFn: () => listVMs({}, firstPageSize, '', { noAuthRedirect: true }),
  });
}

export function useVMList(f: VMFilters, limit: number, cursor: string) {
  return useQuery({
    queryKey: vmKeys.list(f, limit, cursor),
    queryFn: () => listVMs(f, limit, cursor),
    placeholderData: keepPreviousData,
  });
}

export function useVM(id: string) {
  return useQuery({ queryKey: vmKeys.detail(id), queryFn: () => getVM(id) });
}

// Actions that add a VM to the lists or take one out: the lists are fetched
// again (once) rather than guessed.
const membershipActions = new Set(['create', 'discard', 'discover', 'delete', 'adopt']);

/**
 * applyVMEvent brings the query cache up to date with one VM event of the
 * stream: the VM's state in every cached list page and in its detail, its
 * history when cached; the lists are refetched when the event adds or removes a
 * VM, and the detail when the event changes more than the state.
 */
export function applyVMEvent(qc: QueryClient, ev: VMStreamEvent) {
  const newState = ev.new_state;
  if (newState) {
    qc.setQueriesData<VMList>({ queryKey: vmKeys.lists() }, (page) => {
      if (!page) return page;
      let changed = false;
      const vms = page.vms.map((v) => {
        if (v.id !== ev.vm_id || v.state === newState) return v;
        changed = true;
        return { ...v, state: newState, message: ev.message, updated_at: ev.time };
      });
      return changed ? { ...page, vms } : page;
    });
    for (const key of detailKeys(qc, ev.vm_id)) {
      qc.setQueryData<VM>(key, (v) =>
        v && v.state !== newState ? { ...v, state: newState, updated_at: ev.time } : v,
      );
    }
  }
  qc.setQueryData<VMEvent[]>(vmKeys.events(ev.vm_id), (list) =>
    list && !list.some((e) => e.id === ev.event_id)
      ? [
          ...list,
          {
            id: ev.event_id,
            vm_id: ev.vm_id,
            time: ev.time,
            action: ev.action,
            old_state: ev.old_state,
            new_state: ev.new_state,
            cause: ev.cause,
            message: ev.message,
          },
        ]
      : list,
  );
  if (membershipActions.has(ev.action) || newState === 'TERMINATED') {
    void qc.invalidateQueries({ queryKey: vmKeys.lists() });
  }
  // desired_state, message, node and the like come with the VM, not the event.
  for (const key of detailKeys(qc, ev.vm_id)) {
    void qc.invalidateQueries({ queryKey: key, exact: true, refetchType: 'active' });
  }
}

/**
 * detailKeys returns the query keys under which the VM with this id is cached
 * in detail: the key by id, and the key by name of a page opened as
 * /vms/NAME once its VM has been read (an event names the VM by id only).
 */
function detailKeys(qc: QueryClient, vmId: string): (readonly unknown[])[] {
  const keys: (readonly unknown[])[] = [vmKeys.detail(vmId)];
  for (const q of qc.getQueryCache().findAll({ queryKey: ['vms', 'detail'] })) {
    const v = q.state.data as VM | undefined;
    if (v?.id === vmId && q.queryKey[2] !== vmId) keys.push(q.queryKey);
  }
  return keys;
}
