import { useEffect, useRef } from 'react';
import { useLocation } from 'react-router';
import { actionLogger, componentForPath } from './actions';
import { useUILogger } from './useActionLogger';

/**
 * Logs every change of route (action "navigate", the new path as target,
 * the previous one in fields.from), the first route of the page included.
 * A change of the query string alone (filters kept in the URL) is not a
 * navigation: pages log it as a filter change. Render it once, under the
 * router.
 */
export function RouteChangeLogger() {
  const { pathname, search } = useLocation();
  const logger = useUILogger();
  const last = useRef<string | null>(null);
  useEffect(() => {
    if (last.current === pathname) {
      return;
    }
    const from = last.current ?? undefined;
    last.current = pathname;
    actionLogger(logger, componentForPath(pathname)).logNavigation(pathname, from, {
      details: search ? { search } : undefined,
    });
    // search is recorded with the path it came with, not followed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pathname, logger]);
  return null;
}
