import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StoredNodeEvent } from '../../api/types';
import { FakeEventSource } from '../../test/FakeEventSource';
import { NodeEventsTab } from './NodeEventsTab';

const nodeEv = (n: number, action: string, node = 'n1'): StoredNodeEvent => ({
  kind: 'node', id: `0.${n}`, event_id: n, node_id: node, node_name: node === 'n1' ? 'host-1' : 'host-2',
  time: new Date(Date.UTC(2026, 0, 1, 3, n, 0)).toISOString(), action, old_state: 'READY', new_state: n % 2 ? 'UNREACHABLE' : 'READY',
  backend_healthy: true, message: `change ${n}`,
});

let fetched: string[] = [];

/** A server holding node n1's events 1..count: GET /api/nodes/n1/events?latest=&before=. */
function history(count: number) {
  const all = Array.from({ length: count }, (_, i) => nodeEv(i + 1, (i + 1) % 2 ? 'unreachable' : 'register'));
  return vi.fn(async (url: string) => {
    fetched.push(url);
    const q = new URL(url, 'http://x').searchParams;
    const before = Number(q.get('before') ?? Infinity);
    const match = all.filter((e) => e.event_id < before).reverse();
    const page = match.slice(0, Number(q.get('latest')));
    const last = page[page.length - 1];
    const body = { events: page, resume_since: '7', next_before: page.length < match.length && last ? String(last.event_id) : '' };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  });
}

function renderTab() {
  const qc = new QueryClient();
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter>
        <NodeEventsTab nodeId="n1" />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const messages = () =>
  within(screen.getByRole('grid', { name: 'Node events' }))
    .getAllByRole('row')
    .slice(1)
    .map((r) => /change \d+/.exec(r.textContent ?? '')?.[0]);

beforeEach(() => {
  FakeEventSource.all = [];
  fetched = [];
  vi.stubGlobal('EventSource', FakeEventSource);
});
afterEach(() => vi.unstubAllGlobals());

describe('NodeEventsTab', () => {
  it('shows the stored events newest first, then live ones of this node, and loads older ones', async () => {
    vi.stubGlobal('fetch', history(150));
    renderTab();
    await waitFor(() => expect(messages()).toHaveLength(100));
    expect(messages()[0]).toBe('change 150');
    expect(fetched[0]).toBe('/api/nodes/n1/events?latest=100');
    // The stream follows from where the list ends.
    expect(FakeEventSource.all.map((e) => e.url)).toEqual(['/api/events?since=7']);
    act(() => {
      const es = FakeEventSource.all[0];
      es.emit('node', JSON.stringify({ ...nodeEv(200, 'heartbeat'), event_id: undefined }), '0.200');
      es.emit('node', JSON.stringify(nodeEv(201, 'register', 'n2')), '0.201'); // another node's
      es.emit('node', JSON.stringify(nodeEv(150, 'unreachable')), '0.150'); // one listed already
    });
    await waitFor(() => expect(messages()[0]).toBe('change 200'));
    expect(messages()).toHaveLength(101);
    expect(messages()).not.toContain('change 201');

    fireEvent.click(screen.getByRole('button', { name: 'Load older' }));
    await waitFor(() => expect(messages()).toHaveLength(151));
    expect(fetched[1]).toBe('/api/nodes/n1/events?latest=100&before=51');
    expect(messages().at(-1)).toBe('change 1');
    expect(screen.queryByRole('button', { name: 'Load older' })).toBeNull();
  });

  it('says so when the node has no event', async () => {
    vi.stubGlobal('fetch', history(0));
    renderTab();
    expect(await screen.findByText('Nothing has happened to this node yet.')).toBeTruthy();
  });
});
