import { getCsrfToken, setCorrelationProvider } from '../api/client';
import { actionLogger } from './actions';
import { installAutoLogging } from './autoLogging';
import { UILogger, currentCorrelationId, getUILogger, setUILogger } from './uiLogger';

/**
 * Starts the console's UI action logging, once, before the first render:
 * the logger (sending with the login's CSRF token), the automatic logging of
 * submits, uncaught errors and the flush on hide, and the API client's
 * X-Correlation-Id from the action under way. Route changes are logged by
 * RouteChangeLogger, under the router. Returns what stops it.
 */
export function startUILogging(win: Window = window): () => void {
  const logger = new UILogger({ csrfToken: getCsrfToken });
  setUILogger(logger);
  setCorrelationProvider(currentCorrelationId);
  const uninstall = installAutoLogging(win, logger);
  return () => {
    uninstall();
    setCorrelationProvider(null);
    logger.dispose();
    setUILogger(null);
  };
}

/** How long logging out waits for the user's entries to be sent under their session. */
export const LOGOUT_FLUSH_MS = 2000;

/**
 * Sends what the user logged before the session ends (called by logout),
 * waiting at most LOGOUT_FLUSH_MS: a server that does not answer must not
 * hold the logout.
 */
export async function flushBeforeLogout(): Promise<void> {
  await Promise.race([getUILogger().flush(), new Promise<void>((resolve) => setTimeout(resolve, LOGOUT_FLUSH_MS))]);
}

/** Sending starts again after a login (it stops on a 401 or 403). */
export function resumeAfterLogin(): void {
  getUILogger().resume();
}

/** Logs a page's rendering error that an error boundary caught (uncaught ones are logged by installAutoLogging). */
export function logRenderError(error: unknown, componentStack?: string | null): void {
  actionLogger(getUILogger(), 'system').logError('Showing the page', error, {
    details: { component_stack: componentStack ?? undefined, route: window.location.pathname },
  });
}
