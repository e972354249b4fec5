import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api } from '../../api/client';
import type { LogList } from '../../api/types';
import { filtersToParams, type LogFilters } from './filters';

const pageSize = 100;

/** The query string as a Query of the client (its values as strings). */
function asQuery(p: URLSearchParams): Record<string, string> {
  const q: Record<string, string> = {};
  for (const [k, v] of p) q[k] = v;
  return q;
}

/** GET /api/logs with the filters, newest first, a page at a time. */
export function useLogPages(f: LogFilters, enabled: boolean) {
  const params = filtersToParams(f);
  const key = params.toString();
  return useInfiniteQuery({
    queryKey: ['logs', 'list', key],
    enabled,
    initialPageParam: '',
    queryFn: ({ pageParam, signal }) =>
      api.get<LogList>('/api/logs', { signal, query: { ...asQuery(params), limit: pageSize, cursor: pageParam } }),
    getNextPageParam: (last) => (last.has_more && last.next_cursor ? last.next_cursor : undefined),
    staleTime: 0,
  });
}

/** Every entry of one correlation id, oldest first (the action, then what it caused). */
export function useCorrelation(id: string | undefined) {
  return useQuery({
    queryKey: ['logs', 'correlation', id],
    enabled: Boolean(id),
    queryFn: ({ signal }) =>
      api.get<LogList>('/api/logs', { signal, query: { correlation_id: id, order: 'asc', limit: 1000 } }),
    staleTime: 0,
  });
}

/** GET /api/logs/components: the components the server knows. */
export function useLogComponents() {
  return useQuery({
    queryKey: ['logs', 'components'],
    queryFn: ({ signal }) => api.get<{ components: string[] }>('/api/logs/components', { signal }),
    staleTime: Infinity,
  });
}

/** GET /api/logs/sources. */
export function useLogSources() {
  return useQuery({
    queryKey: ['logs', 'sources'],
    queryFn: ({ signal }) => api.get<{ sources: string[] }>('/api/logs/sources', { signal }),
    staleTime: Infinity,
  });
}
