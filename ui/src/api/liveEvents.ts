import { useCallback, useEffect, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useEventStream, type StreamStatus } from './sse';
import { applyStreamEvent } from './inventory';
import type { GapEvent, NodeStreamEvent, VMStreamEvent } from './types';

export type InventoryEvent = VMStreamEvent | NodeStreamEvent;

export interface LiveEventsOptions {
  /**
   * Where the stream starts: '0' replays the stored history first (the
   * Events page, the dashboard's recent events), undefined is from now on.
   */
  since?: string;
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
  const [resume, setResume] = useState<string | undefined>(undefined);
  const since = resume ?? opts.since;
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

  const refetch = useCallback(
    (key: readonly unknown[]) => {
      stale.current.set(JSON.stringify(key), key);
      if (staleTimer.current !== undefined) return;
      staleTimer.current = setTimeout(() => {
        staleTimer.current = undefined;
        const keys = [...stale.current.values()];
        stale.current.clear();
        for (const k of keys) void qc.invalidateQueries({ queryKey: k });
      }, refetchEvery);
    },
    [qc],
  );

  return useEventStream<InventoryEvent | GapEvent>(since === undefined ? '/api/events' : '/api/events', since === undefined ? undefined : { since }, (msg) => {
    const d = msg.data;
    if (msg.type === 'gap' || d.kind === 'gap') {
      const gap = d as GapEvent;
      optsRef.current.onGap?.(gap);
      if (gap.resume_since) setResume(gap.resume_since);
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
  }, { events: ['vm', 'node', 'gap'] });
}
