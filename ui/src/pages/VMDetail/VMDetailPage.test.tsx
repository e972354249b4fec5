import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, render, screen, waitFor } from '@testing-library/react';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthProvider } from '../../app/auth';
import { VMDetailPage } from '.';

// An EventSource the test drives: emit() delivers one server-sent event.
class TestEventSource extends EventTarget {
  static instances: TestEventSource[] = [];
  static readonly CLOSED = 2;
  readyState = 1;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(public url: string) {
    super();
    TestEventSource.instances.push(this);
  }
  emit(type: string, id: string, data: unknown) {
    this.dispatchEvent(new MessageEvent(type, { data: JSON.stringify(data), lastEventId: id }));
  }
  close() {
    this.readyState = 2;
  }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

// The server's VMs: the page reads a VM by its id or by its name.
let states: Record<string, string> = {};
const names: Record<string, string> = { 'u-1': 'web-1', 'u-2': 'web-2' };

function vm(id: string) {
  return {
    id,
    name: names[id],
    description: '',
    labels: {},
    origin: 'control-plane',
    is_managed: true,
    node_id: 'n1',
    state: states[id],
    last_known_state: states[id],
    desired_state: 'running',
    restart_policy: 'never',
    spec: { vcpus: 1, memory_mib: 64, disks: [], nics: [], boot: ['hd'] },
    last_seen: null,
    lost_reason: '',
    lost_at: null,
    message: '',
    created_at: '2026-01-18T10:00:00Z',
    updated_at: '2026-01-18T10:00:00Z',
  };
}

beforeEach(() => {
  states = { 'u-1': 'RUNNING', 'u-2': 'RUNNING' };
  TestEventSource.instances = [];
  vi.stubGlobal('EventSource', TestEventSource);
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const method = init.method ?? 'GET';
      if (url === '/api/auth/whoami') return json(200, { user: 'ann', role: 'operator', via: 'session' });
      if (url.startsWith('/api/nodes')) return json(200, { nodes: [{ id: 'n1', name: 'node-a' }], next_cursor: '' });
      const m = /^\/api\/vms\/([^/?]+)$/.exec(url);
      if (method === 'GET' && m) {
        const id = Object.keys(names).find((k) => k === m[1] || names[k] === m[1]);
        if (id) return json(200, vm(id));
      }
      return json(404, { code: 'not_found', message: `no route ${method} ${url}` });
    }),
  );
});

afterEach(() => vi.unstubAllGlobals());

function renderPage(at: string) {
  const router = createMemoryRouter(
    [{ path: '/vms/:id', element: <AuthProvider><VMDetailPage /></AuthProvider> }],
    { initialEntries: [at] },
  );
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
}

const stopped = (id: string, eventId: number) => ({
  kind: 'vm',
  id: String(eventId),
  event_id: eventId,
  vm_id: id,
  time: new Date().toISOString(),
  action: 'stop',
  old_state: 'RUNNING',
  new_state: 'STOPPED',
  cause: 'host',
  message: '',
});

describe('VM detail page', () => {
  for (const at of ['/vms/u-1', '/vms/web-1']) {
    it(`opened as ${at}, follows its VM's state from the event stream, not another VM's`, async () => {
      renderPage(at);
      await screen.findByRole('heading', { level: 1, name: 'web-1' });
      const overview = screen.getByLabelText('VM overview');
      expect(overview).toHaveTextContent(/StateRUNNING/);
      const stream = TestEventSource.instances.find((e) => e.url.startsWith('/api/events'));
      expect(stream).toBeDefined();

      // Another VM stops: this page does not change.
      states['u-2'] = 'STOPPED';
      act(() => stream!.emit('vm', '41', stopped('u-2', 41)));
      expect(overview).toHaveTextContent(/StateRUNNING/);
      // This VM stops.
      states['u-1'] = 'STOPPED';
      act(() => stream!.emit('vm', '42', stopped('u-1', 42)));
      await waitFor(() => expect(overview).toHaveTextContent(/StateSTOPPED/));
    });
  }
});
