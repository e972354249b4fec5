import { QueryClient } from '@tanstack/react-query';
import { isApiError } from '../api/client';

/**
 * The console's query cache. Live data comes from the event streams, which
 * update or invalidate the cache: queries are not polled and not refetched
 * on window focus. A 4xx is not retried (it would fail again).
 */
export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 30_000,
        refetchOnWindowFocus: false,
        retry: (count, err) => {
          if (isApiError(err) && err.status >= 400 && err.status < 500) return false;
          return count < 2;
        },
      },
      mutations: { retry: false },
    },
  });
}
