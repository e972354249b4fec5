// The console's UI action logging (docs/logs.md, "UI ingest"): see
// uiLogger.ts for what is sent when, actions.ts for what each entry says.
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
