import { useEffect, useRef, useState } from 'react';
import { withQuery, type Query } from './client';

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StreamMessage<T = unknown> {
  /** The SSE event name: `vm`, `node`, `gap`, `log`, ... */
  type: string;
  /** The SSE id (resume position), when the event has one. */
  id: string;
  data: T;
}

export interface EventStreamOptions {
  /** Event names to listen to; default: vm, node, gap, log, message. */
  events?: readonly string[];
  /** Set false to not connect (e.g. until a filter is known). */
  enabled?: boolean;
}

const defaultEvents = ['vm', 'node', 'gap', 'log', 'message'] as const;

/**
 * Listens to a server-sent event stream of the API (`/api/events`,
 * `/api/vms/{id}/events`, `/api/logs/stream`) while the component is
 * mounted, calling onEvent for each event with its JSON data parsed.
 *
 * It runs on the browser's EventSource, which reconnects by itself and sends
 * the last id it saw as Last-Event-ID, so the server resumes right after it.
 * A `gap` event (events dropped for a slow reader) is passed on like the
 * others: the caller refetches what it shows. The connection is made again
 * only when path or params change (compared by value); onEvent may change on
 * every render. Returns the connection's status.
 */
export function useEventStream<T = unknown>(
  path: string,
  params: Query | undefined,
  onEvent: (msg: StreamMessage<T>) => void,
  opts: EventStreamOptions = {},
): StreamStatus {
  // The status of the connection to `url`; a new url starts as connecting.
  const [state, setState] = useState<{ url: string; status: StreamStatus }>({ url: '', status: 'connecting' });
  const handler = useRef(onEvent);
  useEffect(() => {
    handler.current = onEvent;
  });
  const url = withQuery(path, params);
  const enabled = opts.enabled ?? true;
  const eventsKey = (opts.events ?? defaultEvents).join(',');

  useEffect(() => {
    if (!enabled) return;
    const es = new EventSource(url, { withCredentials: true });
    const listener = (ev: Event) => {
      const me = ev as MessageEvent<string>;
      let data: unknown = me.data;
      try {
        data = JSON.parse(me.data);
      } catch {
        // Not JSON: pass the text on.
      }
      handler.current({ type: ev.type, id: me.lastEventId, data: data as T });
    };
    const names = eventsKey.split(',');
    for (const name of names) es.addEventListener(name, listener);
    es.onopen = () => setState({ url, status: 'open' });
    es.onerror = () => {
      // CONNECTING: the browser retries (with Last-Event-ID); CLOSED: it gave
      // up (e.g. a 401 or 403 reply), so do we.
      setState({ url, status: es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting' });
    };
    return () => {
      for (const name of names) es.removeEventListener(name, listener);
      es.close();
    };
  }, [url, enabled, eventsKey]);

  if (!enabled) return 'closed';
  return state.url === url ? state.status : 'connecting';
}
