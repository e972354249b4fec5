import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthProvider } from '../../app/auth';
import { VMsPage } from '.';

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

function vm(id: string, name: string, state: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    name,
    description: '',
    labels: {},
    origin: 'control-plane',
    is_managed: true,
    node_id: 'n1',
    state,
    last_known_state: state,
    desired_state: 'running',
    restart_policy: 'never',
    spec: { vcpus: 2, memory_mib: 2048, disks: [], nics: [], boot: ['hd'] },
    last_seen: null,
    lost_reason: '',
    lost_at: null,
    message: '',
    created_at: new Date(Date.now() - 3 * 3600_000).toISOString(),
    updated_at: new Date().toISOString(),
    ...extra,
  };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

let role = 'operator';
let requests: string[] = [];

beforeEach(() => {
  requests = [];
  TestEventSource.instances = [];
  vi.stubGlobal('EventSource', TestEventSource);
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const method = init.method ?? 'GET';
      requests.push(`${method} ${url}`);
      if (url === '/api/auth/whoami') return json(200, { user: 'ann', role, via: 'session' });
      if (url.startsWith('/api/nodes')) return json(200, { nodes: [{ id: 'n1', name: 'node-a' }], next_cursor: '' });
      if (method === 'GET' && url.startsWith('/api/vms?')) {
        return json(200, {
          vms: [
            vm('u-1', 'web-1', 'RUNNING'),
            vm('u-2', 'web-2', 'RUNNING'),
            vm('u-3', 'found-1', 'RUNNING', { origin: 'host-discovered', is_managed: false, desired_state: '' }),
          ],
          next_cursor: '',
        });
      }
      if (method === 'POST' && url.startsWith('/api/vms/u-1/stop')) {
        return json(200, { success: true, message: 'stopped', vm: vm('u-1', 'web-1', 'STOPPED') });
      }
      if (method === 'POST' && url.startsWith('/api/vms/u-2/stop')) {
        return json(409, {
          success: false,
          code: 'conflict',
          message: 'cannot stop vm in state STOPPING: another action is in progress',
        });
      }
      return json(404, { code: 'not_found', message: `no route ${method} ${url}` });
    }),
  );
});

afterEach(() => vi.unstubAllGlobals());

function renderPage() {
  const router = createMemoryRouter(
    [{ path: '/vms', element: <AuthProvider><VMsPage /></AuthProvider> }, { path: '*', element: <p>elsewhere</p> }],
    { initialEntries: ['/vms'] },
  );
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
}

const rowOf = (name: string) => screen.getByRole('link', { name }).closest('tr') as HTMLElement;

describe('VMs page', () => {
  it('lists the VMs and shows a state change from the event stream without fetching again', async () => {
    renderPage();
    await screen.findByRole('link', { name: 'web-1' });
    const table = screen.getByRole('grid', { name: 'Virtual machines' });
    for (const col of ['Name', 'State', 'Node', 'vCPUs', 'Memory', 'Origin', 'Age']) {
      expect(within(table).getByRole('columnheader', { name: col })).toBeInTheDocument();
    }
    expect(within(rowOf('web-1')).getByText('2 GiB')).toBeInTheDocument();
    expect(within(rowOf('web-1')).getByRole('link', { name: 'node-a' })).toBeInTheDocument();
    expect(within(rowOf('found-1')).getByText('not managed')).toBeInTheDocument();
    expect(within(rowOf('web-1')).getByText('RUNNING')).toBeInTheDocument();

    const lists = requests.filter((r) => r.startsWith('GET /api/vms?')).length;
    const stream = TestEventSource.instances.find((e) => e.url === '/api/events');
    expect(stream).toBeDefined();
    act(() =>
      stream!.emit('vm', '42', {
        kind: 'vm',
        id: '42',
        event_id: 42,
        vm_id: 'u-1',
        time: new Date().toISOString(),
        action: 'stop',
        old_state: 'RUNNING',
        new_state: 'STOPPED',
        cause: 'host',
        message: '',
      }),
    );
    await waitFor(() => expect(within(rowOf('web-1')).getByText('STOPPED')).toBeInTheDocument());
    expect(within(rowOf('web-2')).getByText('RUNNING')).toBeInTheDocument();
    expect(requests.filter((r) => r.startsWith('GET /api/vms?')).length).toBe(lists);
  });

  it('stops several VMs with one confirmation and shows a result per VM', async () => {
    const user = userEvent.setup();
    renderPage();
    await screen.findByRole('link', { name: 'web-1' });
    await user.click(screen.getByRole('checkbox', { name: 'Select web-1' }));
    await user.click(screen.getByRole('checkbox', { name: 'Select web-2' }));
    await user.click(screen.getByRole('button', { name: 'Stop selected' }));

    const dialog = await screen.findByRole('dialog', { name: 'Stop 2 VMs?' });
    await user.click(within(dialog).getByRole('radio', { name: /Force off/ }));
    await user.click(within(dialog).getByRole('button', { name: 'Force off' }));

    const results = await screen.findByRole('dialog', { name: /1 VM stopped, 1 failed$/ });
    const rows = within(results).getAllByRole('row');
    expect(rows[1]).toHaveTextContent('web-1');
    expect(rows[1]).toHaveTextContent('Succeeded');
    expect(rows[2]).toHaveTextContent('web-2');
    expect(rows[2]).toHaveTextContent('Failed');
    expect(rows[2]).toHaveTextContent('cannot stop vm in state STOPPING');
    expect(requests).toContain('POST /api/vms/u-1/stop?force=true');
    expect(requests).toContain('POST /api/vms/u-2/stop?force=true');
  });

  it('disables the write buttons of a viewer, saying why', async () => {
    role = 'viewer';
    try {
      renderPage();
      await screen.findByRole('link', { name: 'web-1' });
      await waitFor(() => expect(screen.getByRole('button', { name: 'Create VM' })).toBeDisabled());
      expect(screen.getByLabelText('Create VM: viewer cannot change VMs: needs operator')).toBeInTheDocument();
      for (const name of ['Start selected', 'Stop selected', 'Delete selected']) {
        expect(screen.getByRole('button', { name })).toBeDisabled();
      }
    } finally {
      role = 'operator';
    }
  });

  it('searches on the server once typing pauses, a % taken literally, and from the first page', async () => {
    const user = userEvent.setup();
    renderPage();
    await screen.findByRole('link', { name: 'web-1' });
    const before = requests.filter((r) => r.startsWith('GET /api/vms?')).length;
    await user.type(screen.getByRole('textbox', { name: 'Search VMs by name or id' }), 'we%b');
    const searched = () => requests.filter((r) => r.startsWith('GET /api/vms?') && r.includes('q='));
    // One request for the whole word, not one per key.
    await waitFor(() => expect(searched()).toEqual(['GET /api/vms?q=we%25b&limit=100']));
    expect(requests.filter((r) => r.startsWith('GET /api/vms?')).length).toBe(before + 1);
    // The page shows what the server answered, not a filter of the loaded rows.
    expect(screen.getByRole('link', { name: 'found-1' })).toBeInTheDocument();
  });
});
