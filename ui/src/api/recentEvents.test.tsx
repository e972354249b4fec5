import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useRecentEvents, type LatestFilters } from './liveEvents';
import type { VMStreamEvent } from './types';
import { FakeEventSource } from '../test/FakeEventSource';

const vmEv = (id: number, action = 'start'): VMStreamEvent => ({
  kind: 'vm', id: String(id), event_id: id, vm_id: 'v1', time: new Date(Date.UTC(2026, 0, 1, 0, 0, id)).toISOString(),
  action, old_state: 'STOPPED', new_state: 'RUNNING', cause: 'api', message: '',
});

function Probe(props: { filters?: LatestFilters }) {
  const { events, error } = useRecentEvents({ latest: 5, keep: 4, filters: props.filters });
  return (
    <>
      <output aria-label="events">{events.map((e) => e.id).join(',')}</output>
      <output aria-label="error">{error?.message ?? ''}</output>
    </>
  );
}

function renderProbe(filters?: LatestFilters) {
  const qc = new QueryClient();
  return render(
    <QueryClientProvider client={qc}>
      <Probe filters={filters} />
    </QueryClientProvider>,
  );
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
