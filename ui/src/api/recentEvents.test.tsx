import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useRecentEvents, type LatestFilters } from './liveEvents';
import type { VMStreamEvent } from './types';
import { FakeEventSource } from '../test/FakeEventSource';

const vmEv = (id: number, action = 'start'): VMStreamEvent => ({
  kind: 'vm', id: String(id), event_id: id, vm_id: 'v1', time: new Date(Date.UTC(2026, 0, 1, 0, 0, id)).toISOString(),
  action, old_state: 'STOPPED', new_state: 'RUNNING', cause: 'api', message: '',
});

function Probe(props: { filters?: LatestFilters }) {
  const { events, error, hasOlder, loadOlder, olderError } = useRecentEvents({ latest: 5, keep: 4, filters: props.filters });
  return (
    <>
      <output aria-label="events">{events.map((e) => e.id).join(',')}</output>
      <output aria-label="error">{error?.message ?? ''}</output>
      <output aria-label="older error">{olderError?.message ?? ''}</output>
      {hasOlder ? <button onClick={loadOlder}>older</button> : <output aria-label="no older">none older</output>}
    </>
  );
}

function renderProbe(filters?: LatestFilters) {
  const qc = new QueryClient();
  const probe = (f?: LatestFilters) => (
    <QueryClientProvider client={qc}>
      <Probe filters={f} />
    </QueryClientProvider>
  );
  const r = render(probe(filters));
  return { ...r, refilter: (f?: LatestFilters) => r.rerender(probe(f)) };
}

/** A server holding events 1..n of VM v1, every third a stop: GET /api/events?latest=&before=&action=. */
function history(n: number) {
  const all = Array.from({ length: n }, (_, i) => vmEv(i + 1, (i + 1) % 3 === 0 ? 'stop' : 'start'));
  return vi.fn(async (url: string) => {
    fetched.push(url);
    const q = new URL(url, 'http://x').searchParams;
    const before = Number(q.get('before') ?? Infinity);
    const action = q.get('action');
    const match = all.filter((e) => e.event_id < before && (!action || e.action === action)).reverse();
    const page = match.slice(0, Number(q.get('latest')));
    const last = page[page.length - 1];
    const body = { events: page, resume_since: String(n), next_before: page.length < match.length && last ? last.id : '' };
    return new Response(JSON.stringify(body), { status: 200 });
  });
}

const text = (label: string) => screen.getByLabelText(label).textContent;
let fetched: string[] = [];

beforeEach(() => {
  FakeEventSource.all = [];
  fetched = [];
  vi.stubGlobal('EventSource', FakeEventSource);
});
afterEach(() => vi.unstubAllGlobals());

describe('useRecentEvents', () => {
  it('shows the stored events, then follows the stream from where they end', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        fetched.push(url);
        return new Response(JSON.stringify({ events: [vmEv(3), vmEv(2)], resume_since: '3', next_before: '' }), { status: 200 });
      }),
    );
    renderProbe({ vm_id: 'web', action: 'start' });
    await waitFor(() => expect(text('events')).toBe('3,2'));
    expect(fetched).toEqual(['/api/events?latest=5&vm_id=web&action=start']);
    // The stream starts only once the list says where: right after it.
    expect(FakeEventSource.all.map((e) => e.url)).toEqual(['/api/events?since=3']);
    const es = FakeEventSource.all[0];
    act(() => {
      es.emit('vm', JSON.stringify(vmEv(4)), '4');
      es.emit('vm', JSON.stringify(vmEv(3)), '3'); // a repeat is shown once
      es.emit('node', JSON.stringify({ kind: 'node', id: '4.1', node_id: 'n1', node_name: 'n1', time: vmEv(5).time, action: 'register' }), '4.1');
    });
    // At most keep (4), newest first.
    await waitFor(() => expect(text('events')).toBe('4.1,4,3,2'));
  });

  it('loads older pages with the same filters until none is left', async () => {
    vi.stubGlobal('fetch', history(45));
    renderProbe({ action: 'stop' });
    // The stops, 45 back to 3: 15 in all, 5 a page; keep 4, and every page read once older ones are.
    await waitFor(() => expect(text('events')).toBe('45,42,39,36'));
    fireEvent.click(screen.getByRole('button', { name: 'older' }));
    await waitFor(() => expect(text('events')).toBe('45,42,39,36,33,30,27,24,21,18'));
    expect(fetched).toEqual(['/api/events?latest=5&action=stop', '/api/events?latest=5&action=stop&before=33']);
    fireEvent.click(screen.getByRole('button', { name: 'older' }));
    await waitFor(() => expect(text('events')).toBe('45,42,39,36,33,30,27,24,21,18,15,12,9,6,3'));
    expect(fetched[2]).toBe('/api/events?latest=5&action=stop&before=18');
    expect(screen.getByLabelText('no older')).toBeTruthy();
    expect(fetched).toHaveLength(3);
  });

  it('drops the older pages when the filters change', async () => {
    vi.stubGlobal('fetch', history(12));
    const { refilter } = renderProbe({ action: 'stop' });
    await waitFor(() => expect(text('events')).toBe('12,9,6,3'));
    expect(screen.getByLabelText('no older')).toBeTruthy();
    refilter({});
    await waitFor(() => expect(text('events')).toBe('12,11,10,9'));
    fireEvent.click(screen.getByRole('button', { name: 'older' }));
    await waitFor(() => expect(text('events')).toBe('12,11,10,9,8,7,6,5,4,3'));
    expect(fetched.at(-1)).toBe('/api/events?latest=5&before=8');
  });

  it('says when an older page cannot be read, and tries again', async () => {
    const ok = history(12);
    let fail = true;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) =>
        url.includes('before=') && fail
          ? new Response(JSON.stringify({ code: 'unavailable', message: 'the database is away' }), { status: 503 })
          : ok(url),
      ),
    );
    renderProbe();
    await waitFor(() => expect(text('events')).toBe('12,11,10,9'));
    fireEvent.click(screen.getByRole('button', { name: 'older' }));
    await waitFor(() => expect(text('older error')).toContain('database is away'));
    fail = false;
    fireEvent.click(screen.getByRole('button', { name: 'older' }));
    await waitFor(() => expect(text('events')).toBe('12,11,10,9,8,7,6,5,4,3'));
    expect(text('older error')).toBe('');
  });

  it('follows the stream from now when the history cannot be read', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response(JSON.stringify({ code: 'bad_request', message: 'vm_id: vm "x" not found' }), { status: 400 })),
    );
    renderProbe({ vm_id: 'x' });
    await waitFor(() => expect(text('error')).toContain('vm_id'));
    expect(FakeEventSource.all.map((e) => e.url)).toEqual(['/api/events']);
    act(() => FakeEventSource.all[0].emit('vm', JSON.stringify(vmEv(9)), '9'));
    await waitFor(() => expect(text('events')).toBe('9'));
  });
});
