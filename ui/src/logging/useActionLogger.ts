import { createContext, useContext, useMemo } from 'react';
import { type ActionLogger, actionLogger } from './actions';
import { type UIComponent, type UILogger, getUILogger } from './uiLogger';

/**
 * The logger the components below use; without a provider, the console's
 * own (getUILogger). Tests provide one with a fake fetch.
 */
export const UILoggerContext = createContext<UILogger | null>(null);

/** The logger of the components below the nearest UILoggerContext. */
export function useUILogger(): UILogger {
  return useContext(UILoggerContext) ?? getUILogger();
}

/**
 * The logging functions for one component of the console (the component
 * names the part of the product, as the Logs page filters it): logClick,
 * logSubmit, logNavigation, logTabSwitch, logFilterChange, logError and
 * logSuccess. The object is the same from render to render.
 */
export function useActionLogger(component: UIComponent): ActionLogger {
  const logger = useUILogger();
  return useMemo(() => actionLogger(logger, component), [logger, component]);
}
