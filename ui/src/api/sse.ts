import { useEffect, useRef, useState } from 'react';
import { request, withQuery, type Query } from './client';

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
  /**
   * The query parameter that resumes the stream right after an event id
   * (`since` for `/api/events`). Used only when the hook itself connects
   * again (below); leave it out for streams without one (`/api/logs/stream`,
   * whose `since` is a time filter).
   */
  resumeParam?: string;
}

const defaultEvents = ['vm', 'node', 'gap', 'log', 'message'] as const;

/** The first and the longest wait before the hook connects again. */
export const reconnectDelay = { first: 1000, max: 30_000 };

/**
 * Listens to a server-sent event stream of the API (`/api/events`,
 * `/api/vms/{id}/events`, `/api/logs/stream`) while the component is
 * mounted, calling onEvent for each event with its JSON data parsed.
 *
 * It runs on the browser's EventSource, which reconnects by itself after a
 * dropped connection and sends the last id it saw as Last-Event-ID, so the
 * server resumes right after it. EventSource gives up for good on an HTTP
 * error reply (a proxy's 502 while quantixd restarts, a 401 once the session
 * ended); then the hook checks the session (a 401 sends the user to the
 * login page, through the API client) and connects again, after 1 s doubling
 * up to 30 s, resuming after the last id through opts.resumeParam when the
 * stream has one.
 *
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
  const resumeParam = opts.resumeParam ?? '';

  useEffect(() => {
    if (!enabled) return;
    const names = eventsKey.split(',');
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastId = '';
    let delay = reconnectDelay.first;

    const listener = (ev: Event) => {
      const me = ev as MessageEvent<string>;
      if (me.lastEventId) lastId = me.lastEventId;
      let data: unknown = me.data;
      try {
        data = JSON.parse(me.data);
      } catch {
        // Not JSON: pass the text on.
      }
      handler.current({ type: ev.type, id: me.lastEventId, data: data as T });
    };

    const connect = () => {
      let target = url;
      if (lastId && resumeParam) {
        const u = new URL(url, window.location.origin);
        u.searchParams.set(resumeParam, lastId);
        target = u.pathname + u.search;
      }
      const source = new EventSource(target, { withCredentials: true });
      es = source;
      for (const name of names) source.addEventListener(name, listener);
      source.onopen = () => {
        delay = reconnectDelay.first;
        setState({ url, status: 'open' });
      };
      source.onerror = () => {
        setState({ url, status: 'reconnecting' });
        if (source.readyState !== EventSource.CLOSED) return; // the browser retries
        source.close();
        // A 401 here runs the client's handlers: the login page.
        void request('/api/auth/whoami').catch(() => undefined);
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, reconnectDelay.max);
      };
    };
    connect();

    return () => {
      clearTimeout(timer);
      if (es) {
        for (const name of names) es.removeEventListener(name, listener);
        es.close();
      }
    };
  }, [url, enabled, eventsKey, resumeParam]);

  if (!enabled) return 'closed';
  return state.url === url ? state.status : 'connecting';
}
