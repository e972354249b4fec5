import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../../api/client';
import type { NewToken, Role, Token, User } from '../../api/types';

export const usersKey = ['users'] as const;
export const tokensKey = ['tokens'] as const;

export function useUsers(enabled: boolean) {
  return useQuery({
    queryKey: usersKey,
    enabled,
    queryFn: ({ signal }) => api.get<{ users: User[] }>('/api/users', { signal }).then((r) => r.users),
  });
}

export function useTokens(enabled: boolean) {
  return useQuery({
    queryKey: tokensKey,
    enabled,
    queryFn: ({ signal }) => api.get<{ tokens: Token[] }>('/api/tokens', { signal }).then((r) => r.tokens),
  });
}

const user = (name: string) => `/api/users/${encodeURIComponent(name)}`;

/** The changes of users and tokens; each reads both lists again (a user's deletion revokes its tokens). */
export function useAdminMutations() {
  const qc = useQueryClient();
  const done = () => {
    void qc.invalidateQueries({ queryKey: usersKey });
    void qc.invalidateQueries({ queryKey: tokensKey });
  };
  return {
    createUser: useMutation({
      mutationFn: (b: { name: string; password: string; role: Role }) => api.post<User>('/api/users', b),
      onSuccess: done,
    }),
    changeUserRole: useMutation({
      mutationFn: (b: { name: string; role: Role }) => api.patch<User>(user(b.name), { role: b.role }),
      onSuccess: done,
    }),
    resetPassword: useMutation({
      mutationFn: (b: { name: string; password: string }) => api.patch<User>(user(b.name), { password: b.password }),
      onSuccess: done,
    }),
    deleteUser: useMutation({
      mutationFn: (name: string) => api.delete<void>(user(name)),
      onSuccess: done,
    }),
    createToken: useMutation({
      mutationFn: (b: { name: string; role?: Role; ttl?: string }) => api.post<NewToken>('/api/tokens', b),
      onSuccess: done,
    }),
    changeTokenRole: useMutation({
      mutationFn: (b: { id: string; role: Role }) => api.patch<Token>(`/api/tokens/${encodeURIComponent(b.id)}`, { role: b.role }),
      onSuccess: done,
    }),
    revokeToken: useMutation({
      mutationFn: (id: string) => api.delete<void>(`/api/tokens/${encodeURIComponent(id)}`),
      onSuccess: done,
    }),
  };
}
