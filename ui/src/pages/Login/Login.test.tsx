import { describe, expect, it, vi, afterEach } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClientProvider } from '@tanstack/react-query';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { routes } from '../../app/routes';
import { makeQueryClient } from '../../app/queryClient';
import { api, CSRF_STORAGE_KEY } from '../../api/client';
import { safeNext } from '.';

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

afterEach(() => vi.unstubAllGlobals());

function renderAt(path: string) {
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  render(
    <QueryClientProvider client={makeQueryClient()}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  return router;
}

describe('login', () => {
  it('sends a stranger to /login keeping where they were, shows the API error, then logs in', async () => {
    let loggedIn = false;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        if (url === '/api/auth/whoami') {
          return loggedIn
            ? json(200, { user: 'ann', role: 'viewer', via: 'session', session_id: 's1' })
            : json(401, { code: 'unauthenticated', message: 'no credentials' });
        }
        if (url === '/api/auth/login') {
          const body = JSON.parse(String(init.body)) as { password: string };
          if (body.password !== 'right') return json(401, { code: 'unauthenticated', message: 'wrong user name or password' });
          loggedIn = true;
          return json(200, { user: 'ann', role: 'viewer', csrf_token: 'tok', expires_at: '2030-01-01T00:00:00Z' });
        }
        return json(404, { code: 'not_found', message: 'no route' });
      }),
    );
    const router = renderAt('/vms?state=RUNNING');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText(/User name/), 'ann');
    expect(router.state.location.pathname).toBe('/login');
    expect(router.state.location.search).toBe('?next=' + encodeURIComponent('/vms?state=RUNNING'));

    await user.type(screen.getByLabelText(/^Password/), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByText('wrong user name or password')).toBeInTheDocument();

    await user.clear(screen.getByLabelText(/^Password/));
    await user.type(screen.getByLabelText(/^Password/), 'right');
    await user.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByRole('heading', { name: 'Virtual machines' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/vms');
    expect(localStorage.getItem(CSRF_STORAGE_KEY)).toBe('tok');
    expect(screen.getByLabelText('Logged in as ann')).toBeInTheDocument();
    expect(screen.getByLabelText('Role: viewer')).toBeInTheDocument();
    // A viewer does not see the admin page in the sidebar (which jsdom, with
    // no layout, shows as a collapsed mobile sidebar: hence hidden: true).
    expect(screen.queryByRole('link', { name: 'Users and tokens', hidden: true })).toBeNull();
    expect(screen.getByRole('link', { name: 'Nodes', hidden: true })).toBeInTheDocument();
  });

  it('logs out: ends the session, forgets the CSRF token, back to /login', async () => {
    localStorage.setItem(CSRF_STORAGE_KEY, 'tok');
    const seen: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        seen.push(`${init.method} ${url} ${new Headers(init.headers).get('X-CSRF-Token') ?? ''}`.trim());
        if (url === '/api/auth/whoami') return json(200, { user: 'root', role: 'admin', via: 'session' });
        if (url === '/api/auth/logout') return new Response(null, { status: 204 });
        return json(404, { code: 'not_found', message: 'no route' });
      }),
    );
    const router = renderAt('/');
    const user = userEvent.setup();
    expect(await screen.findByRole('link', { name: 'Users and tokens', hidden: true })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Log out' }));
    expect(await screen.findByRole('button', { name: 'Log in' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/login');
    expect(seen).toContain('POST /api/auth/logout tok');
    expect(localStorage.getItem(CSRF_STORAGE_KEY)).toBeNull();
  });
});

describe('a session that ends', () => {
  it('sends the user to /login, keeping where they were, and stays there', async () => {
    let sessionOver = false;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        if (sessionOver) return json(401, { code: 'unauthenticated', message: 'session expired' });
        if (url === '/api/auth/whoami') return json(200, { user: 'ann', role: 'operator', via: 'session' });
        return json(404, { code: 'not_found', message: 'no route' });
      }),
    );
    const router = renderAt('/vms?state=RUNNING');
    expect(await screen.findByRole('heading', { name: 'Virtual machines' })).toBeInTheDocument();
    sessionOver = true;
    await api.get('/api/vms').catch(() => undefined);
    expect(await screen.findByRole('button', { name: 'Log in' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/login');
    expect(router.state.location.search).toBe('?next=' + encodeURIComponent('/vms?state=RUNNING'));
    // Not sent back by a whoami still cached.
    await new Promise((r) => setTimeout(r, 50));
    expect(router.state.location.pathname).toBe('/login');
    expect(screen.getByRole('button', { name: 'Log in' })).toBeInTheDocument();
  });
});

describe('safeNext', () => {
  it('keeps only paths of the console', () => {
    expect(safeNext('/vms/a')).toBe('/vms/a');
    expect(safeNext(null)).toBe('/');
    expect(safeNext('https://evil.example/')).toBe('/');
    expect(safeNext('//evil.example/')).toBe('/');
    expect(safeNext('/login?next=/x')).toBe('/');
  });
});
