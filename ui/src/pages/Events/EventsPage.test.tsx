import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StoredNodeEvent, VMStreamEvent } from '../../api/types';
import { FakeEventSource } from '../../test/FakeEventSource';
import EventsPage from './EventsPage';

const at = (min: number) => new Date(Date.UTC(2026, 0, 1, 3, min, 0)).toISOString();
const vmEv = (id: number, min: number): VMStreamEvent => ({
  kind: 'vm', id: String(id), event_id: id, vm_id: 'v1', time: at(min), action: 'start', old_state: 'STOPPED', new_state: 'RUNNING',
  cause: 'api', message: `vm change ${id}`,
});
const nodeEv = (n: number, min: number): StoredNodeEvent => ({
  kind: 'node', id: `2.${n}`, event_id: n, node_id: 'n1', node_name: 'host-1', time: at(min), action: 'unreachable',
  old_state: 'READY', new_state: 'UNREACHABLE', backend_healthy: true, message: `node change ${n}`,
});

let fetched: string[] = [];
const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });

beforeEach(() => {
  FakeEventSource.all = [];
  fetched = [];
  vi.stubGlobal('EventSource', FakeEventSource);
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      fetched.push(url);
      const q = new URL(url, 'http://x');
      if (q.pathname === '/api/nodes') return json({ nodes: [], next_cursor: '' });
      if (q.pathname === '/api/vms') return json({ vms: [], next_cursor: '' });
      if (q.searchParams.get('kind') === 'node') {
        const page = q.searchParams.get('before') ? [nodeEv(1, 1)] : [nodeEv(3, 30), nodeEv(2, 10)];
        return json({ events: page, resume_since: '3', next_before: q.searchParams.get('before') ? '' : '2' });
      }
      return json({ events: [vmEv(3, 20), vmEv(2, 5)], resume_since: '3', next_before: '' });
    }),
  );
});
afterEach(() => vi.unstubAllGlobals());

function renderPage(path: string) {
  return render(
    <QueryClientProvider client={new QueryClient()}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path="/events" element={<EventsPage />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const messages = () =>
  within(screen.getByRole('grid', { name: 'Events' }))
    .getAllByRole('row')
    .slice(1)
    .map((r) => /(vm|node) change \d+/.exec(r.textContent ?? '')?.[0]);

describe('EventsPage', () => {
  it('merges the stored node events with the VM events by time when no VM filter is set', async () => {
    renderPage('/events');
    await waitFor(() => expect(messages()).toEqual(['node change 3', 'vm change 3', 'node change 2', 'vm change 2']));
    expect(fetched).toContain('/api/events?latest=200&kind=node');
  });

  it('lists only VM events with a VM filter', async () => {
    renderPage('/events?vm=v1');
    await waitFor(() => expect(messages()).toEqual(['vm change 3', 'vm change 2']));
    expect(fetched.some((u) => u.includes('kind=node'))).toBe(false);
  });

  it('lists the stored node events of kind Node events, and loads older ones', async () => {
    renderPage('/events');
    await waitFor(() => expect(messages()).toHaveLength(4));
    fireEvent.change(screen.getByRole('combobox', { name: 'Kind' }), { target: { value: 'node' } });
    await waitFor(() => expect(messages()).toEqual(['node change 3', 'node change 2']));
    fireEvent.click(screen.getByRole('button', { name: 'Load older events' }));
    await waitFor(() => expect(messages()).toEqual(['node change 3', 'node change 2', 'node change 1']));
    expect(fetched).toContain('/api/events?latest=200&kind=node&before=2');
  });
});
