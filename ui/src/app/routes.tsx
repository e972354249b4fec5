import { Suspense } from 'react';
import { createBrowserRouter, Outlet, type RouteObject } from 'react-router';
import { AuthProvider, whoamiQuery } from './auth';
import { AppShell, PageLoading } from './AppShell';
import { lazyPage, type LazyPage } from './lazyPage';
import { RouteChangeLogger } from '../logging/RouteChangeLogger';
import type { QueryClient } from '@tanstack/react-query';
import { prefetchFirstVMPage } from '../pages/VMs/api';
import { prefetchNodes } from '../pages/VMs/useNodeNames';

// Each page is its own chunk, loaded when its route is first visited (or
// at start for the page the console opens on: preloadRoute). Once loaded, a
// page renders without suspending (lazyPage).
const pages = {
  login: lazyPage(() => import('../pages/Login')),
  dashboard: lazyPage(() => import('../pages/Dashboard')),
  vms: lazyPage(() => import('../pages/VMs')),
  vmDetail: lazyPage(() => import('../pages/VMDetail')),
  nodes: lazyPage(() => import('../pages/Nodes')),
  nodeDetail: lazyPage(() => import('../pages/NodeDetail')),
  events: lazyPage(() => import('../pages/Events')),
  logs: lazyPage(() => import('../pages/Logs')),
  users: lazyPage(() => import('../pages/Users')),
  notFound: lazyPage(() => import('../pages/NotFound')),
};
const { Page: Login } = pages.login;
const { Page: Dashboard } = pages.dashboard;
const { Page: VMs } = pages.vms;
const { Page: VMDetail } = pages.vmDetail;
const { Page: Nodes } = pages.nodes;
const { Page: NodeDetail } = pages.nodeDetail;
const { Page: Events } = pages.events;
const { Page: Logs } = pages.logs;
const { Page: Users } = pages.users;
const { Page: NotFound } = pages.notFound;

/**
 * preloadRoute starts the session check, the chunk of the page at
 * pathname, and for the VMs list its first page and the nodes, at once:
 * the shell renders a page only once the session check (GET
 * /api/auth/whoami) has answered, and would load the chunk, then ask for
 * the VMs and the nodes, only after it.
 */
export function preloadRoute(pathname: string, qc: QueryClient): void {
  const [first = '', second] = pathname.split('/').filter(Boolean);
  const page = new Map<string, LazyPage>([
    ['', pages.dashboard],
    ['login', pages.login],
    ['vms', second ? pages.vmDetail : pages.vms],
    ['nodes', second ? pages.nodeDetail : pages.nodes],
    ['events', pages.events],
    ['logs', pages.logs],
    ['users', pages.users],
  ]).get(first);
  void page?.preload().catch(() => undefined); // the page reports a failed load when it renders
  // The session check too, before React has rendered (it would ask only
  // once the first render's effects run).
  if (first !== 'login') void qc.prefetchQuery(whoamiQuery);
  if (first === 'vms' && !second) {
    void prefetchFirstVMPage(qc);
    void prefetchNodes(qc);
  }
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
