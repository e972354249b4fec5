// The console's UI action logging (docs/logs.md, "UI ingest"): see
// uiLogger.ts for what is sent when, actions.ts for what each entry says.
//
// In a page:
//
//   const { logTabSwitch, logFilterChange, logSuccess, logError } = useActionLogger('vm');
//   <LoggedButton logComponent="vm" vmId={vm.id} onClick={() => start.mutate(vm.id)}>Start</LoggedButton>
//
// LoggedButton logs the click and begins the action before onClick runs, so
// the mutation's API call carries the click's X-Correlation-Id. To log how
// it ended, keep the id logClick returns (or currentCorrelationId() inside
// onClick) and pass it as correlationId to logSuccess / logError. Log a
// text filter once it settles (debounced), not on every key. Route changes,
// <form> submits and uncaught errors are logged without a page asking;
// never put secrets (passwords, tokens) in details: every user can read them.
export {
  UILogger,
  UI_ACTIONS,
  UI_COMPONENTS,
  UI_LEVELS,
  currentCorrelationId,
  getUILogger,
  setUILogger,
  type UIAction,
  type UIComponent,
  type UILevel,
  type UILogInput,
  type UILoggerOptions,
} from './uiLogger';
export { actionLogger, componentForPath, type ActionLogger, type LogOptions } from './actions';
export { UILoggerContext, useActionLogger, useUILogger } from './useActionLogger';
export { LoggedButton, type LoggedButtonProps } from './LoggedButton';
export { RouteChangeLogger } from './RouteChangeLogger';
export { installAutoLogging } from './autoLogging';
