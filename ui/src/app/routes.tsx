import { lazy, Suspense } from 'react';
import { createBrowserRouter, Outlet, type RouteObject } from 'react-router';
import { AuthProvider, whoamiQuery } from './auth';
import { AppShell, PageLoading } from './AppShell';
import { RouteChangeLogger } from '../logging/RouteChangeLogger';
import type { QueryClient } from '@tanstack/react-query';
import { prefetchFirstVMPage } from '../pages/VMs/api';

// Each page is its own chunk, loaded when its route is first visited (or
// at start for the page the console opens on: preloadRoute).
const chunks = {
  login: () => import('../pages/Login'),
  dashboard: () => import('../pages/Dashboard'),
  vms: () => import('../pages/VMs'),
  vmDetail: () => import('../pages/VMDetail'),
  nodes: () => import('../pages/Nodes'),
  nodeDetail: () => import('../pages/NodeDetail'),
  events: () => import('../pages/Events'),
  logs: () => import('../pages/Logs'),
  users: () => import('../pages/Users'),
};
const Login = lazy(chunks.login);
const Dashboard = lazy(chunks.dashboard);
const VMs = lazy(chunks.vms);
const VMDetail = lazy(chunks.vmDetail);
const Nodes = lazy(chunks.nodes);
const NodeDetail = lazy(chunks.nodeDetail);
const Events = lazy(chunks.events);
const Logs = lazy(chunks.logs);
const Users = lazy(chunks.users);
const NotFound = lazy(() => import('../pages/NotFound'));

/**
 * preloadRoute starts the session check, the chunk of the page at
 * pathname, and for the VMs list its first page, at once: the shell renders a page only once
 * the session check (GET /api/auth/whoami) has answered, and would load
 * the chunk, then ask for the VMs, only after it. A second import() of a
 * chunk gets the module already loaded.
 */
export function preloadRoute(pathname: string, qc: QueryClient): void {
  const [first = '', second] = pathname.split('/').filter(Boolean);
  const chunk = new Map<string, () => Promise<unknown>>([
    ['', chunks.dashboard],
    ['login', chunks.login],
    ['vms', second ? chunks.vmDetail : chunks.vms],
    ['nodes', second ? chunks.nodeDetail : chunks.nodes],
    ['events', chunks.events],
    ['logs', chunks.logs],
    ['users', chunks.users],
  ]).get(first);
  void chunk?.().catch(() => undefined); // lazy() reports a failed load when it renders
  // The session check too, before React has rendered (it would ask only
  // once the first render's effects run).
  if (first !== 'login') void qc.prefetchQuery(whoamiQuery);
  if (first === 'vms' && !second) void prefetchFirstVMPage(qc);
}

/** The root: the auth context (which needs the router) around every route. */
function Root() {
  return (
    <AuthProvider>
      <RouteChangeLogger />
      <Suspense fallback={<PageLoading />}>
        <Outlet />
      </Suspense>
    </AuthProvider>
  );
}

/** The console's routes (UI-SPEC): /login outside the shell, every other page in it. */
export const routes: RouteObject[] = [
  {
    element: <Root />,
    children: [
      { path: '/login', element: <Login /> },
      {
        element: <AppShell />,
        children: [
          { index: true, element: <Dashboard /> },
          { path: '/vms', element: <VMs /> },
          { path: '/vms/:id', element: <VMDetail /> },
          { path: '/nodes', element: <Nodes /> },
          { path: '/nodes/:id', element: <NodeDetail /> },
          { path: '/events', element: <Events /> },
          { path: '/logs', element: <Logs /> },
          { path: '/users', element: <Users /> },
          { path: '*', element: <NotFound /> },
        ],
      },
    ],
  },
];

export function makeRouter() {
  return createBrowserRouter(routes);
}
