// What is logged without a page asking: form submits, uncaught errors and
// unhandled promise rejections, and the flush when the page is hidden or
// closed. Route changes are logged by RouteChangeLogger, under the router.

import { actionLogger, componentForPath, errorMessage } from './actions';
import { UI_COMPONENTS, type UIComponent, type UILogger } from './uiLogger';

const isComponent = (s: string | null | undefined): s is UIComponent =>
  !!s && (UI_COMPONENTS as readonly string[]).includes(s);

/** At most this many uncaught errors are logged per ERROR_WINDOW_MS; the rest are counted. */
export const MAX_ERRORS_PER_WINDOW = 10;
export const ERROR_WINDOW_MS = 10_000;

// Browser noise that is not an error of the console.
const IGNORED_ERRORS = [/^ResizeObserver loop/];

/** The name a person would give a form: its aria-label, name, id or submit button's text. */
export function formName(form: HTMLFormElement, submitter?: HTMLElement | null): string {
  const labelledBy = form.getAttribute('aria-labelledby');
  const labelled = labelledBy
    ? labelledBy
        .split(/\s+/)
        .map((id) => form.ownerDocument.getElementById(id)?.textContent?.trim() ?? '')
        .join(' ')
        .trim()
    : '';
  return (
    form.getAttribute('aria-label') ||
    labelled ||
    form.getAttribute('name') ||
    form.id ||
    submitter?.textContent?.trim() ||
    'form'
  );
}

export interface AutoLoggingOptions {
  /** The current route, to name the component of submits and errors. */
  route?: () => string;
}

/**
 * Installs the automatic logging on win and returns what removes it.
 *
 * A submit is logged (action "submit", the form's name as target) when it
 * happens, before the page's own handler runs, so the calls it makes carry
 * the submit's correlation id. The values of the form are never logged.
 * A form with data-log-component="<component>" names its component; else
 * the route's. An uncaught error or rejection is logged at level error with
 * its stack, at most MAX_ERRORS_PER_WINDOW in ERROR_WINDOW_MS (the next one
 * logged says how many were left out).
 */
export function installAutoLogging(win: Window, logger: UILogger, opts: AutoLoggingOptions = {}): () => void {
  const route = opts.route ?? (() => win.location.pathname);
  const componentOf = (el?: Element | null): UIComponent => {
    const named = el?.closest('[data-log-component]')?.getAttribute('data-log-component');
    return isComponent(named) ? named : componentForPath(route());
  };

  const onSubmit = (ev: Event) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    const submitter = (ev as SubmitEvent).submitter ?? null;
    actionLogger(logger, componentOf(form)).logSubmit(formName(form, submitter), {
      details: { fields: form.elements.length },
    });
  };

  let windowStart = 0;
  let inWindow = 0;
  let suppressed = 0;
  const logUncaught = (kind: 'error' | 'unhandledrejection', message: string, error: unknown, extra: Record<string, unknown>) => {
    if (IGNORED_ERRORS.some((re) => re.test(message))) {
      return;
    }
    const now = Date.now();
    if (now - windowStart >= ERROR_WINDOW_MS) {
      windowStart = now;
      inWindow = 0;
    }
    if (inWindow >= MAX_ERRORS_PER_WINDOW) {
      suppressed++;
      return;
    }
    inWindow++;
    const details: Record<string, unknown> = { kind, ...extra };
    if (error !== undefined) {
      details.error = error;
    }
    if (suppressed > 0) {
      details.suppressed_before = suppressed;
      suppressed = 0;
    }
    logger.log({
      component: componentOf(null),
      action: 'error',
      level: 'error',
      message: kind === 'error' ? `Uncaught error: ${message}` : `Unhandled promise rejection: ${message}`,
      target: route(),
      userAction: false,
      details,
    });
  };
  const onError = (ev: ErrorEvent) => {
    // A resource that failed to load fires a plain Event, not an ErrorEvent.
    if (!(ev instanceof ErrorEvent)) {
      return;
    }
    logUncaught('error', ev.message || errorMessage(ev.error), ev.error, {
      source: ev.filename || undefined,
      line: ev.lineno || undefined,
      column: ev.colno || undefined,
    });
  };
  const onRejection = (ev: PromiseRejectionEvent) => {
    logUncaught('unhandledrejection', errorMessage(ev.reason), ev.reason, {});
  };

  const detachHide = logger.attach(win);
  win.document.addEventListener('submit', onSubmit, true);
  win.addEventListener('error', onError);
  win.addEventListener('unhandledrejection', onRejection);
  return () => {
    detachHide();
    win.document.removeEventListener('submit', onSubmit, true);
    win.removeEventListener('error', onError);
    win.removeEventListener('unhandledrejection', onRejection);
  };
}
