import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClientProvider } from '@tanstack/react-query';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { makeQueryClient } from '../../app/queryClient';
import type { LogEntry } from '../../api/types';
import LogsPage from './LogsPage';

function json(body: unknown) {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

const click: LogEntry = {
  id: 'e1', timestamp: '2026-01-18T10:00:00Z', level: 'info', source: 'ui', component: 'vm',
  message: 'Clicked Start', correlation_id: 'ui-abc', action: 'click', target: 'Start', user_action: true,
};
const audit: LogEntry = {
  id: 'e2', timestamp: '2026-01-18T10:00:01Z', level: 'info', source: 'audit', component: 'vm',
  message: 'POST /api/vms/web-1/start answered 200', correlation_id: 'ui-abc', action: 'vm.start', target: 'web-1', vm_id: 'vm-1',
};

afterEach(() => vi.unstubAllGlobals());

function setup(path: string) {
  const calls: string[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      calls.push(url);
      const u = new URL(url, 'http://x');
      if (u.pathname === '/api/logs/components') return json({ components: ['vm', 'node', 'qemu'] });
      if (u.pathname === '/api/logs/sources') return json({ sources: ['ui', 'audit', 'system', 'qemu'] });
      if (u.pathname === '/api/logs') {
        if (u.searchParams.get('correlation_id') === 'ui-abc') return json({ logs: [click, audit], next_cursor: '', has_more: false });
        return json({ logs: [audit, click], next_cursor: '', has_more: false });
      }
      return new Response('{}', { status: 404 });
    }),
  );
  const router = createMemoryRouter([{ path: '/logs', element: <LogsPage /> }], { initialEntries: [path] });
  render(
    <QueryClientProvider client={makeQueryClient()}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  const logCalls = () => calls.filter((c) => c.startsWith('/api/logs?'));
  return { router, logCalls };
}

// PatternFly tables have the grid role (Table's default).
describe('Logs page', () => {
  it('reads its filters from the URL, sends them to the API and exports with them', async () => {
    const { logCalls } = setup('/logs?level=warn&component=vm&q=boot');
    await screen.findByRole('grid', { name: 'Log entries' }, { timeout: 5000 });
    const q = new URL(logCalls()[0], 'http://x').searchParams;
    expect(q.get('level')).toBe('warn');
    expect(q.get('component')).toBe('vm');
    expect(q.get('q')).toBe('boot');
    const csv = screen.getByRole('link', { name: 'Export CSV' });
    const href = new URL(csv.getAttribute('href') ?? '', 'http://x');
    expect(href.pathname).toBe('/api/logs/export');
    expect(href.searchParams.get('format')).toBe('csv');
    expect(href.searchParams.get('level')).toBe('warn');
    expect(href.searchParams.get('q')).toBe('boot');
    expect(screen.getByLabelText('Minimum level')).toHaveValue('warn');
  });

  it('"User actions" asks for source ui, and UI actions are marked apart', async () => {
    const { router, logCalls } = setup('/logs');
    const table = await screen.findByRole('grid', { name: 'Log entries' }, { timeout: 5000 });
    expect(within(table).getAllByText('User action')).toHaveLength(1);
    const row = within(table).getByText('Clicked Start').closest('tr');
    expect(row).toHaveClass('quantix-log-ui');
    await userEvent.click(screen.getByRole('switch', { name: 'User actions' }));
    await waitFor(() => expect(router.state.location.search).toBe('?source=ui&user_action=true'));
    await waitFor(() => expect(logCalls().some((c) => c.includes('user_action=true') && c.includes('source=ui'))).toBe(true));
    expect(screen.getByRole('link', { name: 'Export JSON' }).getAttribute('href')).toBe(
      '/api/logs/export?source=ui&user_action=true&format=json',
    );
  });

  it('shows everything with a correlation id: the click and the audit entry it caused', async () => {
    setup('/logs');
    await screen.findByRole('grid', { name: 'Log entries' }, { timeout: 5000 });
    await userEvent.click(screen.getAllByRole('button', { name: 'Show everything with correlation id ui-abc' })[0]);
    const dialog = await screen.findByRole('dialog');
    const t = await within(dialog).findByRole('grid', { name: 'Entries with correlation id ui-abc' });
    expect(within(t).getByText('Clicked Start')).toBeInTheDocument();
    expect(within(t).getByText('POST /api/vms/web-1/start answered 200')).toBeInTheDocument();
    expect(within(dialog).getByText(/2 entries: 1 user action, 1 audit entry/)).toBeInTheDocument();
  });
});
