import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useLocation, useNavigate } from 'react-router';
import { api, onUnauthorized, setCsrfToken, type ApiError } from '../api/client';
import type { LoginResult, Role, WhoAmI } from '../api/types';
import { flushBeforeLogout, resumeAfterLogin } from '../logging/start';

const roleRank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` allows what `needed` allows. */
export function roleAllows(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && roleRank[role] >= roleRank[needed];
}

export interface Auth {
  /** The caller (GET /api/auth/whoami); undefined while loading or logged out. */
  me: WhoAmI | undefined;
  loading: boolean;
  login(username: string, password: string): Promise<LoginResult>;
  logout(): Promise<void>;
  /** Whether the caller's role allows what `role` allows. */
  can(role: Role): boolean;
  /**
   * Why a control needing `role` is disabled, for its tooltip
   * ("viewer cannot start VMs: needs operator"), or undefined when allowed.
   */
  whyNot(role: Role, what: string): string | undefined;
}

const AuthContext = createContext<Auth | null>(null);

export const whoamiKey = ['auth', 'whoami'] as const;

/** The path of the login page that comes back to `to` after logging in. */
export function loginPath(to: string): string {
  if (!to || to === '/' || to.startsWith('/login')) return '/login';
  return `/login?next=${encodeURIComponent(to)}`;
}

/** The session check (GET /api/auth/whoami) as the shell asks for it; preloadRoute starts it early. */
export const whoamiQuery = {
  queryKey: whoamiKey,
  queryFn: ({ signal }: { signal?: AbortSignal }) => api.get<WhoAmI>('/api/auth/whoami', { signal, noAuthRedirect: true }),
  staleTime: 5 * 60_000,
  retry: false,
} as const;

export function AuthProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const onLoginPage = location.pathname === '/login';
  const [loggedOut, setLoggedOut] = useState(false);

  const whoami = useQuery({ ...whoamiQuery, enabled: !loggedOut });

  // Any 401 (session expired, revoked, user deleted): back to the login
  // page, which returns to where the user was.
  useEffect(
    () =>
      onUnauthorized((_err: ApiError) => {
        // The session ended (expired, revoked, user deleted): forget it,
        // so that the login page does not send the user back.
        setCsrfToken(null);
        setLoggedOut(true);
        const here = window.location.pathname + window.location.search + window.location.hash;
        if (window.location.pathname !== '/login') navigate(loginPath(here), { replace: true });
      }),
    [navigate],
  );

  const unauthenticated = whoami.isError && (whoami.error as ApiError).status === 401;
  useEffect(() => {
    if ((unauthenticated || loggedOut) && !onLoginPage) {
      navigate(loginPath(location.pathname + location.search + location.hash), { replace: true });
    }
  }, [unauthenticated, loggedOut, onLoginPage, location, navigate]);

  const login = useCallback(
    async (username: string, password: string) => {
      const res = await api.post<LoginResult>('/api/auth/login', { username, password }, { noAuthRedirect: true });
      setCsrfToken(res.csrf_token);
      resumeAfterLogin();
      qc.clear();
      setLoggedOut(false);
      await qc.fetchQuery({
        queryKey: whoamiKey,
        queryFn: () => api.get<WhoAmI>('/api/auth/whoami', { noAuthRedirect: true }),
      });
      return res;
    },
    [qc],
  );

  const logout = useCallback(async () => {
    await flushBeforeLogout();
    try {
      await api.post<void>('/api/auth/logout', undefined, { noAuthRedirect: true });
    } finally {
      setCsrfToken(null);
      setLoggedOut(true);
      qc.clear();
      navigate('/login', { replace: true });
    }
  }, [qc, navigate]);

  const me = loggedOut ? undefined : whoami.data;
  const value = useMemo<Auth>(
    () => ({
      me,
      loading: !loggedOut && whoami.isPending,
      login,
      logout,
      can: (role) => roleAllows(me?.role, role),
      whyNot: (role, what) => {
        if (roleAllows(me?.role, role)) return undefined;
        return `${me?.role ?? 'a caller without a role'} cannot ${what}: needs ${role}`;
      },
    }),
    [me, loggedOut, whoami.isPending, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth must be used inside <AuthProvider>');
  return a;
}
