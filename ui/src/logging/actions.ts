// What a page logs, in the words of the console: a click, a submit, a
// navigation, a tab switch, a filter change, and how an action ended
// (success or error). actionLogger binds these to a component; the
// useActionLogger hook gives them to React components.
//
// Clicks, submits, tab switches and filter changes each begin a new user
// action: the entry carries the action's correlation id, and the API calls
// made for it (for actionWindowMs, see uiLogger.ts) carry the same id as
// X-Correlation-Id. A navigation joins the action that caused it when that
// action (not itself a navigation) began at most NAVIGATION_JOIN_MS before
// (a click on "Create" that opens the new VM's page), else it begins its
// own. logSuccess and logError
// belong to the action under way, or to the one named by correlationId:
// keep the id a click returned to log how that click ended.

import type { UIAction, UIComponent, UILevel, UILogger } from './uiLogger';

/** Context an entry may carry besides its message. */
export interface LogOptions {
  details?: Record<string, unknown>;
  vmId?: string;
  nodeId?: string;
  /** The action the entry belongs to (a click's id, for its outcome). */
  correlationId?: string;
}

export interface ActionLogger {
  /** Logs a click on target (a button's label) and returns the new action's id. */
  logClick(target: string, opts?: LogOptions): string;
  /** Logs the submit of a form (its name) and returns the new action's id. */
  logSubmit(form: string, opts?: LogOptions): string;
  /** Logs a move to the route `to`; returns the action's id. */
  logNavigation(to: string, from?: string, opts?: LogOptions): string;
  /** Logs a switch to the tab named tab; returns the new action's id. */
  logTabSwitch(tab: string, opts?: LogOptions): string;
  /** Logs that filter now has value; returns the new action's id. */
  logFilterChange(filter: string, value: unknown, opts?: LogOptions): string;
  /** Logs that what failed with error, at level error. */
  logError(what: string, error: unknown, opts?: LogOptions): void;
  /** Logs that what succeeded. */
  logSuccess(what: string, opts?: LogOptions): void;
}

/** How long after an action a navigation is taken as its consequence. */
export const NAVIGATION_JOIN_MS = 1000;

/** The message of an error of any kind. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    return e.message || e.name;
  }
  if (typeof e === 'string') {
    return e;
  }
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

// What an error says beyond its message: the API client's errors carry the
// HTTP status, the API's code and the request id.
function errorDetails(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) {
    return { error: e };
  }
  const out: Record<string, unknown> = { error: e };
  const extra = e as Error & { status?: unknown; code?: unknown; requestId?: unknown; field?: unknown };
  for (const k of ['status', 'code', 'requestId', 'field'] as const) {
    if (extra[k] !== undefined) {
      out[k === 'requestId' ? 'request_id' : k] = extra[k];
    }
  }
  return out;
}

function valueText(v: unknown): string {
  if (v === undefined || v === null || v === '') {
    return '(none)';
  }
  if (Array.isArray(v)) {
    return v.length === 0 ? '(none)' : v.map(String).join(', ');
  }
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The logging functions of one component, on logger. */
export function actionLogger(logger: UILogger, component: UIComponent): ActionLogger {
  const write = (
    action: UIAction,
    message: string,
    target: string | undefined,
    opts: LogOptions | undefined,
    correlationId: string | undefined,
    level: UILevel = 'info',
    extra: Record<string, unknown> = {},
  ) => {
    logger.log({
      component,
      action,
      message,
      target,
      level,
      vmId: opts?.vmId,
      nodeId: opts?.nodeId,
      correlationId,
      details: { ...extra, ...opts?.details },
    });
  };
  const begin = (kind: UIAction, opts?: LogOptions) => opts?.correlationId ?? logger.beginAction(kind);
  return {
    logClick(target, opts) {
      const id = begin('click', opts);
      write('click', `Clicked "${target}"`, target, opts, id);
      return id;
    },
    logSubmit(form, opts) {
      const id = begin('submit', opts);
      write('submit', `Submitted "${form}"`, form, opts, id);
      return id;
    },
    logNavigation(to, from, opts) {
      const cause = logger.activeAction(NAVIGATION_JOIN_MS);
      const joined = cause && cause.kind !== 'navigate' ? cause.id : undefined;
      const id = opts?.correlationId ?? joined ?? logger.beginAction('navigate');
      write('navigate', `Navigated to ${to}`, to, opts, id, 'info', from !== undefined ? { from } : {});
      return id;
    },
    logTabSwitch(tab, opts) {
      const id = begin('tab_switch', opts);
      write('tab_switch', `Switched to tab "${tab}"`, tab, opts, id);
      return id;
    },
    logFilterChange(filter, value, opts) {
      const id = begin('filter_change', opts);
      write('filter_change', `Set filter "${filter}" to ${valueText(value)}`, filter, opts, id, 'info', {
        filter,
        value: value === undefined ? null : value,
      });
      return id;
    },
    logError(what, error, opts) {
      write('error', `${what} failed: ${errorMessage(error)}`, what, opts, opts?.correlationId, 'error', errorDetails(error));
    },
    logSuccess(what, opts) {
      write('success', `${what} succeeded`, what, opts, opts?.correlationId);
    },
  };
}

/** The component a route of the console is about. */
export function componentForPath(path: string): UIComponent {
  const first = path.split('/').filter(Boolean)[0] ?? '';
  switch (first) {
    case '':
      return 'dashboard';
    case 'vms':
      return 'vm';
    case 'events':
      return 'monitoring';
    case 'nodes':
      return 'node';
    case 'logs':
      return 'logs';
    case 'login':
    case 'users':
      return 'auth';
    default:
      return 'system';
  }
}
