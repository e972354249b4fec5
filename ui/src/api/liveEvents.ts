import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, withQuery } from './client';
import { useEventStream, type StreamStatus } from './sse';
import { applyStreamEvent } from './inventory';
import type { GapEvent, LatestEvents, NodeStreamEvent, VMStreamEvent } from './types';

export type InventoryEvent = VMStreamEvent | NodeStreamEvent;

export interface LiveEventsOptions {
  /**
   * Where the stream starts: right after this position (the resume_since
   * of GET /api/events?latest=N, see useRecentEvents); undefined is from
   * now on.
   */
  since?: string;
  /** Set false to not connect yet (e.g. until since is known). */
  enabled?: boolean;
  /** Called with the events of the stream, a batch at a time (at most every flushMs). */
  onEvents?: (events: InventoryEvent[]) => void;
  /** Called for a gap the stream reported (events were dropped). */
  onGap?: (gap: GapEvent) => void;
  flushMs?: number;
}

/** How often caches read again for events (at most). */
const refetchEvery = 1000;

/**
 * Follows GET /api/events: keeps the caches of nodes and VM counts current
 * (applyStreamEvent) and hands the events on in batches, so a replay of a
 * long history costs a render per batch, not per event. On a gap it
 * reconnects from the position the server names, which replays what was
 * dropped.
 */
export function useLiveEvents(opts: LiveEventsOptions = {}): StreamStatus {
  const qc = useQueryClient();
  // A gap names where to resume; it belongs to the stream that started at
  // opts.since, not to one started elsewhere later.
  const [resume, setResume] = useState<{ from?: string; at: string } | undefined>(undefined);
  const since = resume !== undefined && resume.from === opts.since ? resume.at : opts.since;
  const pending = useRef<InventoryEvent[]>([]);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const stale = useRef(new Map<string, readonly unknown[]>());
  const staleTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const optsRef = useRef(opts);
  useEffect(() => {
    optsRef.current = opts;
  });
  const flushMs = opts.flushMs ?? 100;

  useEffect(
    () => () => {
      clearTimeout(timer.current);
      clearTimeout(staleTimer.current);
    },
    [],
  );

  // Leading and trailing throttle: the first change is read at once, the
  // changes of a burst (a replayed history, a bulk action) once more at the
  // end of the second.
  const lastRefetch = useRef(0);
  const refetch = useCallback(
    (key: readonly unknown[]) => {
      stale.current.set(JSON.stringify(key), key);
      if (staleTimer.current !== undefined) return;
      const flush = () => {
        staleTimer.current = undefined;
        lastRefetch.current = Date.now();
        const keys = [...stale.current.values()];
        stale.current.clear();
        for (const k of keys) void qc.invalidateQueries({ queryKey: k });
      };
      const wait = lastRefetch.current + refetchEvery - Date.now();
      staleTimer.current = setTimeout(flush, Math.max(0, wait));
    },
    [qc],
  );

  return useEventStream<InventoryEvent | GapEvent>('/api/events', since === undefined ? undefined : { since }, (msg) => {
    const d = msg.data;
    if (msg.type === 'gap' || d.kind === 'gap') {
      const gap = d as GapEvent;
      optsRef.current.onGap?.(gap);
      if (gap.resume_since) setResume({ from: optsRef.current.since, at: gap.resume_since });
      return;
    }
    if (msg.type !== 'vm' && msg.type !== 'node') return;
    const ev = { ...d, id: msg.id || (d as InventoryEvent).id } as InventoryEvent;
    applyStreamEvent(qc, ev, refetch);
    if (!optsRef.current.onEvents) return;
    pending.current.push(ev);
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      const batch = pending.current;
      pending.current = [];
      optsRef.current.onEvents?.(batch);
    }, flushMs);
  }, { events: ['vm', 'node', 'gap'], resumeParam: 'since', enabled: opts.enabled ?? true });
}

/**
 * Adds events to a list kept newest first by time, bounded to max entries,
 * without duplicates (a resumed stream may repeat a position). Events of
 * one time keep the order they came in, the later first: a stream sends
 * VM events replayed from the database before the node events it holds in
 * memory, so the order of arrival alone is not the order of time.
 */
export function pushEvents(list: readonly InventoryEvent[], incoming: readonly InventoryEvent[], max: number): InventoryEvent[] {
  if (incoming.length === 0) return list as InventoryEvent[];
  const seen = new Set(list.map((e) => `${e.kind}:${e.id}`));
  const fresh: InventoryEvent[] = [];
  for (let i = incoming.length - 1; i >= 0; i--) {
    const e = incoming[i];
    const key = `${e.kind}:${e.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    fresh.push(e);
  }
  const all = [...fresh, ...list];
  const t = (e: InventoryEvent) => Date.parse(e.time) || 0;
  // Array.prototype.sort is stable: equal times keep the order above.
  all.sort((a, b) => t(b) - t(a));
  return all.slice(0, max);
}

/** The server-side filters of GET /api/events?latest=N. */
export interface LatestFilters {
  /** vm (the default) lists VM events; node the stored node events (node_id filters them). */
  kind?: 'vm' | 'node';
  /** A VM's id or name. */
  vm_id?: string;
  /** A node's id or name: the events of the VMs on it. */
  node_id?: string;
  action?: string;
  cause?: string;
}

export interface RecentEventsOptions {
  /**
   * Where the stored events are listed: GET /api/events (the default) or
   * a node's, GET /api/nodes/{id}/events (same reply and paging).
   */
  path?: string;
  /** How many stored events to start from (1..1000). */
  latest: number;
  /** Filters of that first list (the stream is filtered by accept). */
  filters?: LatestFilters;
  /** How many events the list keeps, the newest. */
  keep: number;
  /** Which events to keep (default all). */
  accept?: (e: InventoryEvent) => boolean;
  onGap?: (gap: GapEvent) => void;
}

export interface RecentEvents {
  /** Newest first: the stored history, then what the stream brought. */
  events: InventoryEvent[];
  status: StreamStatus;
  /** The history could not be read (the stream then runs from now on). */
  error: Error | null;
  /** The history is being read. */
  pending: boolean;
  /** Older stored events that match the filters may be left (the server named where to read on). */
  hasOlder: boolean;
  /**
   * Reads the page of stored events before the oldest read so far (before=,
   * same filters, latest of them) and adds it at the end of events, which
   * then keeps keep plus every page read. Does nothing while a page is
   * being read or when none is left.
   */
  loadOlder: () => void;
  /** An older page is being read. */
  loadingOlder: boolean;
  /** The last older page could not be read (loadOlder tries again). */
  olderError: Error | null;
}

/** The older pages read for one query (one set of filters). */
interface OlderPages {
  key: string;
  events: InventoryEvent[];
  /** before= of the next page; '' when none is left. */
  before: string;
  loading: boolean;
  error: Error | null;
}

const noEvents: InventoryEvent[] = [];

/**
 * The newest stored events (GET /api/events?latest=N, filtered by the
 * server; VM events, or node events with kind=node or a node's path), then the live stream from the position that list ends at
 * (resume_since): what happened recently, and what happens from then on,
 * without replaying the whole history. New filters read a new list and
 * start the stream again from its position. The list is read on each
 * mount, never again in the background: a new list would start a new
 * stream.
 */
export function useRecentEvents(opts: RecentEventsOptions): RecentEvents {
  const { kind, vm_id, node_id, action, cause } = opts.filters ?? {};
  const latest = opts.latest;
  const path = opts.path ?? '/api/events';
  const query = useMemo(() => ({ latest, kind, vm_id, node_id, action, cause }), [latest, kind, vm_id, node_id, action, cause]);
  const queryKey = JSON.stringify([path, query]);
  const history = useQuery({
    queryKey: ['events', 'latest', path, query],
    queryFn: ({ signal }) => api.get<LatestEvents>(withQuery(path, query), { signal }),
    staleTime: Infinity,
    gcTime: 0,
    retry: false,
    refetchOnWindowFocus: false,
    refetchOnReconnect: false,
  });
  const base = history.data?.resume_since;
  const accept = opts.accept;
  const [live, setLive] = useState<{ base?: string; events: InventoryEvent[] }>({ events: [] });
  const status = useLiveEvents({
    since: base,
    enabled: !history.isPending,
    onEvents: (batch) => {
      const kept = accept ? batch.filter(accept) : batch;
      setLive((l) => ({ base, events: pushEvents(l.base === base ? l.events : [], kept, opts.keep) }));
    },
    onGap: opts.onGap,
  });
  const liveEvents = live.base === base ? live.events : noEvents;
  const stored = history.data?.events;

  // Older pages, read on demand; new filters (a new first list) drop them.
  const [olderPages, setOlderPages] = useState<OlderPages | undefined>(undefined);
  const older = olderPages?.key === queryKey && history.data ? olderPages : undefined;
  const nextBefore = older ? older.before : (history.data?.next_before ?? '');
  const olderEvents = older?.events ?? noEvents;
  const loadingOlder = older?.loading ?? false;
  const loadOlder = useCallback(() => {
    if (nextBefore === '' || loadingOlder) return;
    const start: OlderPages = older ?? { key: queryKey, events: [], before: nextBefore, loading: false, error: null };
    setOlderPages({ ...start, loading: true, error: null });
    api.get<LatestEvents>(withQuery(path, { ...query, before: nextBefore })).then(
      (page) =>
        setOlderPages((p) =>
          p?.key === queryKey ? { ...p, events: [...p.events, ...page.events], before: page.next_before, loading: false } : p,
        ),
      (err: unknown) =>
        setOlderPages((p) =>
          p?.key === queryKey ? { ...p, loading: false, error: err instanceof Error ? err : new Error(String(err)) } : p,
        ),
    );
  }, [path, query, queryKey, older, nextBefore, loadingOlder]);

  const events = useMemo(() => {
    const past = [...(stored ?? noEvents), ...olderEvents].filter((e) => accept?.(e) ?? true);
    // Once older pages are read, every page read is kept on top of keep:
    // they were asked for.
    const max = olderEvents.length ? opts.keep + (stored?.length ?? 0) + olderEvents.length : opts.keep;
    // pushEvents takes its new events oldest first.
    return pushEvents(pushEvents([], past.reverse(), max), liveEvents, max);
  }, [stored, olderEvents, liveEvents, accept, opts.keep]);
  return {
    events,
    status,
    error: history.error,
    pending: history.isPending,
    hasOlder: !history.isPending && !history.error && nextBefore !== '',
    loadOlder,
    loadingOlder,
    olderError: older?.error ?? null,
  };
}
