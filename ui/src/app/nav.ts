import type { Role } from '../api/types';

/** The pages in the sidebar, in order; `role` is the least role that sees the page. */
export interface NavEntry {
  path: string;
  label: string;
  role?: Role;
}

export const navEntries: readonly NavEntry[] = [
  { path: '/', label: 'Dashboard' },
  { path: '/vms', label: 'Virtual machines' },
  { path: '/nodes', label: 'Nodes' },
  { path: '/events', label: 'Events' },
  { path: '/logs', label: 'Logs' },
  { path: '/users', label: 'Users and tokens', role: 'admin' },
];

/** Whether a nav entry is the current page (its own path or one below it). */
export function isActivePath(entry: string, pathname: string): boolean {
  if (entry === '/') return pathname === '/';
  return pathname === entry || pathname.startsWith(entry + '/');
}
