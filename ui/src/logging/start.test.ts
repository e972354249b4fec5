import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, setCsrfToken } from '../api/client';
import { flushBeforeLogout, logRenderError, resumeAfterLogin, startUILogging } from './start';
import { getUILogger, type UIWireEntry } from './uiLogger';

interface Seen {
  url: string;
  headers: Record<string, string>;
  body?: string;
}

function stubFetch(status = 200) {
  const seen: Seen[] = [];
  vi.stubGlobal('fetch', (url: string, init: RequestInit) => {
    seen.push({ url, headers: { ...(init.headers as Record<string, string>) }, body: init.body as string | undefined });
    return Promise.resolve(new Response(status === 204 ? null : '{}', { status, headers: { 'Content-Type': 'application/json' } }));
  });
  return seen;
}

let stop: (() => void) | null = null;

afterEach(() => {
  stop?.();
  stop = null;
  vi.unstubAllGlobals();
});

describe('startUILogging', () => {
  it('makes the API calls of an action carry its correlation id, and no id outside one', async () => {
    const seen = stubFetch();
    stop = startUILogging(window);
    await api.get('/api/vms');
    const id = getUILogger().beginAction();
    await api.post('/api/vms/web-1/start');
    expect(seen[0].headers['X-Correlation-Id']).toBeUndefined();
    expect(seen[1].headers['X-Correlation-Id']).toBe(id);
  });

  it("sends entries with the login's CSRF token, and resumes after a login", async () => {
    const seen = stubFetch(401);
    stop = startUILogging(window);
    setCsrfToken('tok-1');
    const logger = getUILogger();
    logger.log({ component: 'auth', action: 'submit', message: 'Submitted "Log in"' });
    await logger.flush();
    expect(logger.stats().state).toBe('paused');
    vi.unstubAllGlobals();
    const after = stubFetch(200);
    resumeAfterLogin();
    await flushBeforeLogout();
    expect(seen[0].url).toBe('/api/logs/ui');
    expect(after).toHaveLength(1);
    expect(after[0].headers['X-CSRF-Token']).toBe('tok-1');
    expect((JSON.parse(after[0].body ?? '') as { logs: UIWireEntry[] }).logs[0].message).toBe('Submitted "Log in"');
  });

  it('logs a render error an error boundary caught', async () => {
    const seen = stubFetch();
    stop = startUILogging(window);
    logRenderError(new Error('cannot read vm.spec'), '\n    at VMDetail');
    await getUILogger().flush();
    const e = (JSON.parse(seen[0].body ?? '') as { logs: UIWireEntry[] }).logs[0];
    expect(e).toMatchObject({ level: 'error', action: 'error', component: 'system', message: 'Showing the page failed: cannot read vm.spec' });
    expect(e.fields.component_stack).toContain('VMDetail');
  });
});
