import { lazy, Suspense } from 'react';
import { createBrowserRouter, Outlet, type RouteObject } from 'react-router';
import { AuthProvider } from './auth';
import { AppShell, PageLoading } from './AppShell';
import { RouteChangeLogger } from '../logging/RouteChangeLogger';

// Each page is its own chunk, loaded when its route is first visited.
const Login = lazy(() => import('../pages/Login'));
const Dashboard = lazy(() => import('../pages/Dashboard'));
const VMs = lazy(() => import('../pages/VMs'));
const VMDetail = lazy(() => import('../pages/VMDetail'));
const Nodes = lazy(() => import('../pages/Nodes'));
const NodeDetail = lazy(() => import('../pages/NodeDetail'));
const Events = lazy(() => import('../pages/Events'));
const Logs = lazy(() => import('../pages/Logs'));
const Users = lazy(() => import('../pages/Users'));
const NotFound = lazy(() => import('../pages/NotFound'));

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
