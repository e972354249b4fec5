import { act, cleanup, fireEvent, render, renderHook, screen } from '@testing-library/react';
import type { ReactNode } from 'react';
import { Link, MemoryRouter, Route, Routes, useNavigate } from 'react-router';
import { afterEach, describe, expect, it } from 'vitest';
import { LoggedButton } from './LoggedButton';
import { RouteChangeLogger } from './RouteChangeLogger';
import { installAutoLogging } from './autoLogging';
import { UILogger, currentCorrelationId, setUILogger, type FetchReply, type UIWireEntry } from './uiLogger';
import { UILoggerContext, useActionLogger } from './useActionLogger';

// A logger whose requests are kept; flushed by hand.
function recordingLogger() {
  const sent: UIWireEntry[] = [];
  const logger = new UILogger({
    storage: null,
    csrfToken: () => 'csrf',
    route: () => window.location.pathname,
    fetch: (_url: string, init: RequestInit): Promise<FetchReply> => {
      sent.push(...(JSON.parse(String(init.body)) as { logs: UIWireEntry[] }).logs);
      return Promise.resolve({ ok: true, status: 200, headers: { get: () => null } });
    },
  });
  const entries = async () => {
    await logger.flush();
    return sent;
  };
  return { logger, entries };
}

let disposers: Array<() => void> = [];

afterEach(() => {
  cleanup();
  disposers.forEach((d) => d());
  disposers = [];
  setUILogger(null);
});

function withLogger(logger: UILogger) {
  disposers.push(() => logger.dispose());
  return ({ children }: { children: ReactNode }) => <UILoggerContext.Provider value={logger}>{children}</UILoggerContext.Provider>;
}

describe('useActionLogger', () => {
  it('logs each kind of action for its component, each click its own action', async () => {
    const { logger, entries } = recordingLogger();
    const { result } = renderHook(() => useActionLogger('vm'), { wrapper: withLogger(logger) });
    const l = result.current;
    const click = l.logClick('Start', { vmId: 'vm-1' });
    l.logSuccess('Start VM web-1', { correlationId: click, vmId: 'vm-1' });
    const submit = l.logSubmit('Create VM');
    l.logError('Create VM', Object.assign(new Error('vcpus: must be at least 1'), { status: 422, code: 'invalid_argument', requestId: 'r-1' }));
    l.logTabSwitch('Logs');
    l.logFilterChange('state', ['RUNNING', 'PAUSED']);
    l.logNavigation('/vms/vm-1', '/vms');
    const got = await entries();
    expect(got.map((e) => [e.component, e.action, e.level, e.message])).toEqual([
      ['vm', 'click', 'info', 'Clicked "Start"'],
      ['vm', 'success', 'info', 'Start VM web-1 succeeded'],
      ['vm', 'submit', 'info', 'Submitted "Create VM"'],
      ['vm', 'error', 'error', 'Create VM failed: vcpus: must be at least 1'],
      ['vm', 'tab_switch', 'info', 'Switched to tab "Logs"'],
      ['vm', 'filter_change', 'info', 'Set filter "state" to RUNNING, PAUSED'],
      ['vm', 'navigate', 'info', 'Navigated to /vms/vm-1'],
    ]);
    expect(got[0]).toMatchObject({ vm_id: 'vm-1', target: 'Start', correlation_id: click, user_action: true });
    expect(got[1].correlation_id).toBe(click);
    expect(got[2].correlation_id).toBe(submit);
    expect(submit).not.toBe(click);
    // The error belongs to the submit under way, with what the API said.
    expect(got[3].correlation_id).toBe(submit);
    expect(got[3].fields).toMatchObject({ status: 422, code: 'invalid_argument', request_id: 'r-1' });
    expect(new Set(got.slice(4).map((e) => e.correlation_id)).size).toBe(2);
    // A navigation right after the filter change joins its action.
    expect(got[6].correlation_id).toBe(got[5].correlation_id);
    expect(got[6].fields.from).toBe('/vms');
    // The same functions from render to render.
    expect(result.current).toBe(l);
  });
});

describe('LoggedButton', () => {
  it('logs a click with its label and begins an action before its onClick runs', async () => {
    const { logger, entries } = recordingLogger();
    setUILogger(logger);
    let seen: string | undefined;
    const Wrapper = withLogger(logger);
    render(
      <Wrapper>
        <LoggedButton logComponent="vm" vmId="vm-7" onClick={() => (seen = currentCorrelationId())}>
          Start <strong>VM</strong>
        </LoggedButton>
        <LoggedButton logComponent="dashboard" aria-label="Refresh" variant="plain" />
        <LoggedButton logComponent="vm" isAriaDisabled>
          Delete
        </LoggedButton>
      </Wrapper>,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Start VM' }));
    fireEvent.click(screen.getByRole('button', { name: 'Refresh' }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    const got = await entries();
    expect(got.map((e) => [e.component, e.target])).toEqual([
      ['vm', 'Start VM'],
      ['dashboard', 'Refresh'],
    ]);
    expect(got[0].vm_id).toBe('vm-7');
    expect(seen).toBeDefined();
    expect(seen).toBe(got[0].correlation_id);
  });
});

describe('RouteChangeLogger', () => {
  it('logs the first route and every change of path, not of query', async () => {
    const { logger, entries } = recordingLogger();
    const Wrapper = withLogger(logger);
    render(
      <Wrapper>
        <MemoryRouter initialEntries={['/']}>
          <RouteChangeLogger />
          <Link to="/vms">VMs</Link>
          <Link to="/vms?state=RUNNING">Running</Link>
          <Link to="/nodes/n1">Node</Link>
          <Routes>
            <Route path="*" element={null} />
          </Routes>
        </MemoryRouter>
      </Wrapper>,
    );
    fireEvent.click(screen.getByRole('link', { name: 'VMs' }));
    fireEvent.click(screen.getByRole('link', { name: 'Running' }));
    fireEvent.click(screen.getByRole('link', { name: 'Node' }));
    const got = await entries();
    expect(got.map((e) => [e.action, e.component, e.target, e.fields.from])).toEqual([
      ['navigate', 'dashboard', '/', undefined],
      ['navigate', 'vm', '/vms', '/'],
      ['navigate', 'node', '/nodes/n1', '/vms'],
    ]);
    // Each navigation that no click caused is its own action.
    expect(new Set(got.map((e) => e.correlation_id)).size).toBe(3);
    expect(got.every((e) => e.correlation_id)).toBe(true);
  });

  it('joins a navigation to the click that caused it', async () => {
    const { logger, entries } = recordingLogger();
    const Wrapper = withLogger(logger);
    const Go = () => {
      const navigate = useNavigate();
      return (
        <LoggedButton logComponent="vm" onClick={() => navigate('/vms/new-vm')}>
          Create
        </LoggedButton>
      );
    };
    render(
      <Wrapper>
        <MemoryRouter initialEntries={['/vms']}>
          <RouteChangeLogger />
          <Go />
        </MemoryRouter>
      </Wrapper>,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    const got = await entries();
    expect(got.map((e) => [e.action, e.target])).toEqual([
      ['navigate', '/vms'],
      ['click', 'Create'],
      ['navigate', '/vms/new-vm'],
    ]);
    expect(got[2].correlation_id).toBe(got[1].correlation_id);
    expect(got[0].correlation_id).not.toBe(got[1].correlation_id);
  });
});

describe('automatic logging', () => {
  it('logs a form submit, named, without its values, before the page handler runs', async () => {
    const { logger, entries } = recordingLogger();
    setUILogger(logger);
    disposers.push(installAutoLogging(window, logger, { route: () => '/vms' }));
    let seen: string | undefined;
    render(
      <form aria-label="Create VM" onSubmit={(e) => { e.preventDefault(); seen = currentCorrelationId(); }}>
        <input aria-label="Password" defaultValue="s3cret" />
        <button type="submit">Create</button>
      </form>,
    );
    fireEvent.submit(screen.getByRole('form', { name: 'Create VM' }));
    const got = await entries();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ action: 'submit', component: 'vm', target: 'Create VM' });
    expect(JSON.stringify(got[0])).not.toContain('s3cret');
    expect(seen).toBe(got[0].correlation_id);
    logger.dispose();
  });

  it('logs uncaught errors and unhandled rejections at level error, bounded', async () => {
    const { logger, entries } = recordingLogger();
    disposers.push(installAutoLogging(window, logger, { route: () => '/logs' }));
    act(() => {
      window.dispatchEvent(new ErrorEvent('error', { message: 'x is undefined', error: new TypeError('x is undefined'), filename: 'app.js', lineno: 3, colno: 7 }));
      const rejection = new Event('unhandledrejection') as PromiseRejectionEvent;
      Object.defineProperty(rejection, 'reason', { value: new Error('fetch failed') });
      window.dispatchEvent(rejection);
      window.dispatchEvent(new ErrorEvent('error', { message: 'ResizeObserver loop completed with undelivered notifications.' }));
      for (let i = 0; i < 20; i++) {
        window.dispatchEvent(new ErrorEvent('error', { message: `loop ${i}` }));
      }
    });
    const got = await entries();
    expect(got[0]).toMatchObject({
      action: 'error',
      level: 'error',
      component: 'logs',
      user_action: false,
      message: 'Uncaught error: x is undefined',
      fields: { kind: 'error', source: 'app.js', line: 3, column: 7, error: { name: 'TypeError', message: 'x is undefined' } },
    });
    expect(got[1]).toMatchObject({ level: 'error', message: 'Unhandled promise rejection: fetch failed' });
    // 10 in the window; the rest are counted, not logged.
    expect(got).toHaveLength(10);
    expect(got.some((e) => e.message.includes('ResizeObserver'))).toBe(false);
  });
});
