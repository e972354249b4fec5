import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, render, screen } from '@testing-library/react';
import { reconnectDelay, useEventStream, type StreamMessage, type StreamStatus } from './sse';
import type { Query } from './client';
import { FakeEventSource } from '../test/FakeEventSource';

const latest = () => FakeEventSource.all[FakeEventSource.all.length - 1];

function Probe(props: {
  path: string;
  params?: Query;
  onEvent: (m: StreamMessage) => void;
  resumeParam?: string;
  enabled?: boolean;
}) {
  const status = useEventStream(props.path, props.params, props.onEvent, {
    resumeParam: props.resumeParam,
    enabled: props.enabled,
  });
  return <output aria-label="status">{status}</output>;
}

const status = () => screen.getByLabelText('status').textContent as StreamStatus;

beforeEach(() => {
  FakeEventSource.all = [];
  vi.stubGlobal('EventSource', FakeEventSource);
  vi.stubGlobal(
    'fetch',
    vi.fn(async () => new Response(JSON.stringify({ user: 'ann', role: 'viewer', via: 'session' }), { status: 200 })),
  );
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('useEventStream', () => {
  it('passes events on with their JSON parsed, and closes on unmount', () => {
    const got: StreamMessage[] = [];
    const { unmount } = render(<Probe path="/api/logs/stream" params={{ level: 'warn', source: ['ui', 'audit'] }} onEvent={(m) => got.push(m)} />);
    const es = latest();
    expect(es.url).toBe('/api/logs/stream?level=warn&source=ui&source=audit');
    expect(es.init?.withCredentials).toBe(true);
    expect(status()).toBe('connecting');
    act(() => es.open());
    expect(status()).toBe('open');
    act(() => {
      es.emit('log', '{"id":"e1","message":"hi"}', 'e1');
      es.emit('gap', '{"kind":"gap","dropped":3}');
      es.emit('unknown', '{}');
    });
    expect(got).toEqual([
      { type: 'log', id: 'e1', data: { id: 'e1', message: 'hi' } },
      { type: 'gap', id: '', data: { kind: 'gap', dropped: 3 } },
    ]);
    unmount();
    expect(es.closed).toBe(true);
  });

  it('lets the browser retry a dropped connection itself', () => {
    render(<Probe path="/api/events" onEvent={() => undefined} resumeParam="since" />);
    act(() => latest().open());
    act(() => latest().fail(false));
    expect(status()).toBe('reconnecting');
    expect(FakeEventSource.all).toHaveLength(1);
  });

  it('connects again after the browser gives up, resuming after the last id, with backoff', async () => {
    vi.useFakeTimers();
    const got: string[] = [];
    render(<Probe path="/api/events" onEvent={(m) => got.push(m.id)} resumeParam="since" />);
    const first = latest();
    act(() => {
      first.open();
      first.emit('vm', '{"kind":"vm"}', '41');
      first.emit('node', '{"kind":"node"}', '41.2');
    });
    act(() => first.fail(true));
    expect(status()).toBe('reconnecting');
    expect(first.closed).toBe(true);
    // The session is checked (a 401 would send the user to /login).
    expect(vi.mocked(fetch).mock.calls.map((c) => c[0])).toContain('/api/auth/whoami');
    await act(async () => vi.advanceTimersByTimeAsync(reconnectDelay.first - 1));
    expect(FakeEventSource.all).toHaveLength(1);
    await act(async () => vi.advanceTimersByTimeAsync(1));
    expect(FakeEventSource.all).toHaveLength(2);
    expect(latest().url).toBe('/api/events?since=41.2');
    // Failing again waits twice as long.
    act(() => latest().fail(true));
    await act(async () => vi.advanceTimersByTimeAsync(2 * reconnectDelay.first - 1));
    expect(FakeEventSource.all).toHaveLength(2);
    await act(async () => vi.advanceTimersByTimeAsync(1));
    expect(FakeEventSource.all).toHaveLength(3);
    act(() => latest().open());
    expect(status()).toBe('open');
    expect(got).toEqual(['41', '41.2']);
  });

  it('starts from now again without a resume parameter', async () => {
    vi.useFakeTimers();
    render(<Probe path="/api/logs/stream" params={{ since: '15m' }} onEvent={() => undefined} />);
    act(() => latest().emit('log', '{}', 'abc'));
    act(() => latest().fail(true));
    await act(async () => vi.advanceTimersByTimeAsync(reconnectDelay.first));
    expect(latest().url).toBe('/api/logs/stream?since=15m');
  });

  it('does not connect while disabled, and reconnects when the parameters change', () => {
    const { rerender } = render(<Probe path="/api/events" onEvent={() => undefined} enabled={false} />);
    expect(FakeEventSource.all).toHaveLength(0);
    expect(status()).toBe('closed');
    rerender(<Probe path="/api/logs/stream" params={{ vm_id: 'a' }} onEvent={() => undefined} />);
    expect(FakeEventSource.all).toHaveLength(1);
    rerender(<Probe path="/api/logs/stream" params={{ vm_id: 'a' }} onEvent={() => undefined} />);
    expect(FakeEventSource.all).toHaveLength(1);
    rerender(<Probe path="/api/logs/stream" params={{ vm_id: 'b' }} onEvent={() => undefined} />);
    expect(FakeEventSource.all).toHaveLength(2);
    expect(FakeEventSource.all[0].closed).toBe(true);
    expect(status()).toBe('connecting');
  });
});
