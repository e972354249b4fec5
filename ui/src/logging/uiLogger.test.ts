import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  KEEPALIVE_LIMIT_BYTES,
  SESSION_KEY,
  UILogger,
  type FetchReply,
  type UILoggerOptions,
  type UIWireEntry,
  currentCorrelationId,
  setUILogger,
} from './uiLogger';

interface Call {
  url: string;
  init: RequestInit;
  logs: UIWireEntry[];
  bytes: number;
  at: number;
}

type Answer = number | Error | { status: number; retryAfter?: string } | 'hang';

// A fake /api/logs/ui: records every request and answers with what
// answer(n) says for the n-th request (from 1).
function fakeServer(answer: (n: number) => Answer = () => 200) {
  const calls: Call[] = [];
  const pending: Array<() => void> = [];
  const fetch = vi.fn((url: string, init: RequestInit): Promise<FetchReply> => {
    const body = String(init.body);
    calls.push({
      url,
      init,
      logs: (JSON.parse(body) as { logs: UIWireEntry[] }).logs,
      bytes: new TextEncoder().encode(body).length,
      at: Date.now(),
    });
    const a = answer(calls.length);
    if (a === 'hang') {
      return new Promise((resolve) => pending.push(() => resolve(reply(200))));
    }
    if (a instanceof Error) {
      return Promise.reject(a);
    }
    return Promise.resolve(typeof a === 'number' ? reply(a) : reply(a.status, a.retryAfter));
  });
  return {
    calls,
    fetch,
    entries: () => calls.flatMap((c) => c.logs),
    release: () => pending.splice(0).forEach((f) => f()),
  };
}

function reply(status: number, retryAfter?: string): FetchReply {
  return {
    ok: status >= 200 && status < 300,
    status,
    headers: { get: (n: string) => (n.toLowerCase() === 'retry-after' ? (retryAfter ?? null) : null) },
  };
}

function newLogger(fetch: UILoggerOptions['fetch'], opts: UILoggerOptions = {}) {
  return new UILogger({
    fetch,
    storage: null,
    csrfToken: () => 'csrf-123',
    route: () => '/vms',
    random: () => 0,
    ...opts,
  });
}

function click(l: UILogger, i: number) {
  const id = l.beginAction();
  l.log({ component: 'vm', action: 'click', message: `Clicked "Start" (${i})`, target: 'Start', correlationId: id });
}

let logger: UILogger | null = null;

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  logger?.dispose();
  logger = null;
  setUILogger(null);
  vi.useRealTimers();
});

describe('batching', () => {
  it('sends at most 100 entries per request, a full batch at once', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    for (let i = 0; i < 250; i++) {
      logger.log({ component: 'vm', action: 'click', message: `click ${i}` });
    }
    await vi.advanceTimersByTimeAsync(0);
    expect(srv.calls.map((c) => c.logs.length)).toEqual([100, 100]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(srv.calls.map((c) => c.logs.length)).toEqual([100, 100, 50]);
    expect(srv.entries().map((e) => e.message)).toEqual(Array.from({ length: 250 }, (_, i) => `click ${i}`));
    expect(logger.stats()).toMatchObject({ buffered: 0, accepted: 250, requests: 3 });
  });

  it('posts entries as POST /api/logs/ui takes them, with the CSRF header', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    logger.log({
      component: 'vm',
      action: 'click',
      message: 'Clicked "Start"',
      target: 'Start',
      vmId: 'vm-1',
      details: { button: 'Start' },
    });
    await vi.advanceTimersByTimeAsync(5000);
    expect(srv.calls).toHaveLength(1);
    const c = srv.calls[0];
    expect(c.url).toBe('/api/logs/ui');
    expect(c.init.method).toBe('POST');
    expect(c.init.credentials).toBe('same-origin');
    expect(c.init.keepalive).toBe(true);
    expect(c.init.headers).toMatchObject({ 'X-CSRF-Token': 'csrf-123', 'Content-Type': 'application/json' });
    const e = c.logs[0];
    expect(e).toMatchObject({
      level: 'info',
      component: 'vm',
      action: 'click',
      message: 'Clicked "Start"',
      target: 'Start',
      vm_id: 'vm-1',
      user_action: true,
      fields: { ui_session_id: logger.sessionId, route: '/vms', button: 'Start' },
    });
    expect(new Date(e.timestamp).toISOString()).toBe(e.timestamp);
    // Only keys the server knows (an unknown key fails the entry).
    const known = [
      'timestamp', 'level', 'component', 'action', 'message', 'target', 'vm_id', 'node_id',
      'correlation_id', 'user_action', 'fields',
    ];
    expect(Object.keys(e).filter((k) => !known.includes(k))).toEqual([]);
  });

  it('keeps entries within the server bounds', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    const cyclic: Record<string, unknown> = { name: 'x' };
    cyclic.self = cyclic;
    logger.log({ component: 'system', action: 'error', message: '   ', details: { err: new TypeError('boom'), cyclic } });
    logger.log({ component: 'system', action: 'error', message: 'é'.repeat(10_000), target: 'x'.repeat(2000) });
    logger.log({ component: 'system', action: 'error', message: 'big', details: { blob: 'y'.repeat(3000), more: Array(20).fill('z'.repeat(3000)) } });
    await vi.advanceTimersByTimeAsync(5000);
    const [blank, long, big] = srv.entries();
    expect(blank.message.trim()).not.toBe('');
    expect(blank.fields.err).toMatchObject({ name: 'TypeError', message: 'boom' });
    expect((blank.fields.cyclic as Record<string, unknown>).self).toBe('[circular]');
    expect(new TextEncoder().encode(long.message).length).toBeLessThanOrEqual(8 * 1024);
    expect(new TextEncoder().encode(long.target).length).toBeLessThanOrEqual(512);
    expect(new TextEncoder().encode(JSON.stringify(big.fields)).length).toBeLessThanOrEqual(16 * 1024);
    expect(big.fields).toMatchObject({ details_truncated: true });
  });
});

describe('flush timing', () => {
  it('sends a lone entry 5 s after it was logged, not before', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    logger.log({ component: 'dashboard', action: 'click', message: 'Refresh' });
    await vi.advanceTimersByTimeAsync(4999);
    expect(srv.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(srv.calls).toHaveLength(1);
    // Nothing more is sent while nothing is logged.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(srv.calls).toHaveLength(1);
  });

  it('sends again 5 s after the next entry', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    logger.log({ component: 'dashboard', action: 'click', message: 'one' });
    await vi.advanceTimersByTimeAsync(5000);
    await vi.advanceTimersByTimeAsync(7000);
    logger.log({ component: 'dashboard', action: 'click', message: 'two' });
    await vi.advanceTimersByTimeAsync(4999);
    expect(srv.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(srv.calls.map((c) => c.logs.map((e) => e.message))).toEqual([['one'], ['two']]);
  });

  it('flush() sends everything now', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    for (let i = 0; i < 130; i++) {
      logger.log({ component: 'auth', action: 'click', message: `m${i}` });
    }
    await logger.flush();
    expect(srv.calls.map((c) => c.logs.length)).toEqual([100, 30]);
  });
});

describe('backoff', () => {
  it('retries with pauses doubling to 60 s, and starts over after a success', async () => {
    let down = true;
    const srv = fakeServer(() => (down ? new TypeError('Failed to fetch') : 200));
    logger = newLogger(srv.fetch);
    logger.log({ component: 'vm', action: 'click', message: 'Start' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(srv.calls).toHaveLength(1);
    const pauses: number[] = [];
    for (let i = 0; i < 9; i++) {
      const before = srv.calls.length;
      pauses.push(logger.stats().retryDelayMs);
      await vi.advanceTimersByTimeAsync(logger.stats().retryDelayMs - 1);
      expect(srv.calls).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(srv.calls).toHaveLength(before + 1);
    }
    expect(pauses).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    // Every retry carries the same entry.
    expect(srv.calls.every((c) => c.logs.length === 1 && c.logs[0].message === 'Start')).toBe(true);

    down = false;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(logger.stats()).toMatchObject({ buffered: 0, accepted: 1, retryDelayMs: 0 });

    down = true;
    const n = srv.calls.length;
    logger.log({ component: 'vm', action: 'click', message: 'Stop' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(srv.calls).toHaveLength(n + 1);
    expect(logger.stats().retryDelayMs).toBe(1000);
  });

  it('retries on 5xx and 429, honouring Retry-After', async () => {
    const answers: Answer[] = [503, { status: 429, retryAfter: '30' }, 200];
    const srv = fakeServer((n) => answers[n - 1]);
    logger = newLogger(srv.fetch);
    logger.log({ component: 'vm', action: 'click', message: 'Start' });
    await vi.advanceTimersByTimeAsync(5000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(srv.calls).toHaveLength(2);
    // 429 with Retry-After: 30 waits 30 s, longer than the 2 s backoff.
    expect(logger.stats().retryDelayMs).toBe(30_000);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(srv.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(srv.calls).toHaveLength(3);
    expect(logger.stats()).toMatchObject({ accepted: 1, buffered: 0 });
  });

  it('spreads pauses at random by at most a fifth', async () => {
    const srv = fakeServer(() => 503);
    logger = newLogger(srv.fetch, { random: () => 0.999 });
    logger.log({ component: 'vm', action: 'click', message: 'Start' });
    await vi.advanceTimersByTimeAsync(5000);
    const d = logger.stats().retryDelayMs;
    expect(d).toBeGreaterThanOrEqual(800);
    expect(d).toBeLessThan(1000);
  });

  it('does not send again what the server refused for good', async () => {
    const srv = fakeServer(() => 422);
    logger = newLogger(srv.fetch);
    logger.log({ component: 'vm', action: 'click', message: 'x' });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(srv.calls).toHaveLength(1);
    expect(logger.stats()).toMatchObject({ buffered: 0, refused: 1, retryDelayMs: 0 });
  });

  it('pauses on 401 until resume(), keeping the entries', async () => {
    const answers: Answer[] = [401, 200];
    const srv = fakeServer((n) => answers[n - 1]);
    logger = newLogger(srv.fetch);
    logger.log({ component: 'auth', action: 'click', message: 'before' });
    await vi.advanceTimersByTimeAsync(5000);
    logger.log({ component: 'auth', action: 'submit', message: 'login' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(srv.calls).toHaveLength(1);
    expect(logger.stats()).toMatchObject({ state: 'paused', buffered: 2 });
    logger.resume();
    await vi.advanceTimersByTimeAsync(5000);
    expect(srv.calls[1].logs.map((e) => e.message)).toEqual(['before', 'login']);
  });

  it('discards entries a credential may not send (403) until resume()', async () => {
    const srv = fakeServer((n) => (n === 1 ? 403 : 200));
    logger = newLogger(srv.fetch);
    logger.log({ component: 'vm', action: 'click', message: 'viewer click' });
    await vi.advanceTimersByTimeAsync(5000);
    logger.log({ component: 'vm', action: 'click', message: 'still a viewer' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(srv.calls).toHaveLength(1);
    expect(logger.stats()).toMatchObject({ state: 'refused', buffered: 0, refused: 2 });
    logger.resume();
    logger.log({ component: 'vm', action: 'click', message: 'operator click' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(srv.calls[1].logs.map((e) => e.message)).toEqual(['operator click']);
  });
});

describe('flush on hide', () => {
  function setVisibility(v: DocumentVisibilityState) {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => v });
  }

  afterEach(() => {
    setVisibility('visible');
  });

  it('sends at once with keepalive when the page is hidden', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    const detach = logger.attach(window);
    for (let i = 0; i < 30; i++) {
      logger.log({ component: 'vm', action: 'click', message: `c${i}` });
    }
    setVisibility('hidden');
    document.dispatchEvent(new Event('visibilitychange'));
    expect(srv.calls).toHaveLength(1);
    expect(srv.calls[0].init.keepalive).toBe(true);
    expect(srv.calls[0].logs).toHaveLength(30);
    detach();
  });

  it('sends at once with keepalive on pagehide, in batches of at most 100', async () => {
    const s2 = fakeServer(() => 'hang');
    logger = newLogger(s2.fetch);
    const detach = logger.attach(window);
    for (let i = 0; i < 150; i++) {
      logger.log({ component: 'vm', action: 'click', message: `c${i}` });
    }
    expect(s2.calls).toHaveLength(1); // the first full batch, in flight
    window.dispatchEvent(new Event('pagehide'));
    expect(s2.calls.map((c) => c.logs.length)).toEqual([100, 50]);
    expect(s2.calls.every((c) => c.init.keepalive === true)).toBe(true);
    expect(logger.stats().buffered).toBe(0);
    s2.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(logger.stats().accepted).toBe(150);
    detach();
  });

  it('keeps the bodies of requests in flight under the 64 KiB keepalive bound', async () => {
    const srv = fakeServer(() => 'hang');
    logger = newLogger(srv.fetch);
    const detach = logger.attach(window);
    for (let i = 0; i < 300; i++) {
      logger.log({ component: 'vm', action: 'click', message: `c${i}`, details: { pad: 'p'.repeat(1000) } });
    }
    // The regular request in flight takes the first entries.
    expect(srv.calls).toHaveLength(1);
    setVisibility('hidden');
    document.dispatchEvent(new Event('visibilitychange'));
    window.dispatchEvent(new Event('pagehide'));
    const total = srv.calls.reduce((n, c) => n + c.bytes, 0);
    expect(total).toBeLessThanOrEqual(KEEPALIVE_LIMIT_BYTES);
    expect(srv.calls.every((c) => c.logs.length <= 100)).toBe(true);
    // What did not fit waits for the page to come back.
    const sent = srv.calls.reduce((n, c) => n + c.logs.length, 0);
    expect(logger.stats().buffered).toBe(300 - sent);
    expect(sent).toBeLessThan(300);
    srv.release();
    await vi.advanceTimersByTimeAsync(0);
    detach();
  });
});

describe('buffer bound', () => {
  it('drops the oldest past 1,000 entries and reports the count in the next batch', async () => {
    let down = true;
    const srv = fakeServer(() => (down ? new TypeError('Failed to fetch') : 200));
    logger = newLogger(srv.fetch);
    for (let i = 0; i < 1500; i++) {
      logger.log({ component: 'vm', action: 'click', message: `c${i}` });
    }
    await vi.advanceTimersByTimeAsync(0);
    expect(logger.stats()).toMatchObject({ buffered: 1000, droppedUnreported: 500, droppedTotal: 500 });

    down = false;
    await vi.advanceTimersByTimeAsync(1000);
    await vi.advanceTimersByTimeAsync(0);
    const first = srv.calls[1].logs;
    expect(first).toHaveLength(100);
    expect(first[0]).toMatchObject({ action: 'log_drop', level: 'warn', component: 'logs', user_action: false });
    expect(first[0].fields.dropped).toBe(500);
    expect(first[0].message).toMatch(/^500 UI log entries were dropped/);
    await logger.flush();
    const got = srv.calls.slice(1).flatMap((c) => c.logs);
    // The newest 1,000 arrive, in order, after the one report.
    expect(got.filter((e) => e.action === 'log_drop')).toHaveLength(1);
    expect(got.filter((e) => e.action === 'click').map((e) => e.message)).toEqual(
      Array.from({ length: 1000 }, (_, i) => `c${500 + i}`),
    );
    expect(logger.stats()).toMatchObject({ buffered: 0, droppedUnreported: 0, droppedTotal: 500 });
  });

  it('reports drops again when the report did not get through', async () => {
    let down = true;
    const srv = fakeServer(() => (down ? 503 : 200));
    logger = newLogger(srv.fetch, { maxBuffer: 10, batchSize: 5 });
    for (let i = 0; i < 15; i++) {
      logger.log({ component: 'vm', action: 'click', message: `c${i}` });
    }
    await vi.advanceTimersByTimeAsync(0);
    const droppedBefore = logger.stats().droppedUnreported;
    expect(droppedBefore).toBeGreaterThan(0);
    // The retry carries a report; it fails too, more entries are dropped.
    await vi.advanceTimersByTimeAsync(1000);
    expect(srv.calls[1].logs[0].fields.dropped).toBe(droppedBefore);
    for (let i = 15; i < 20; i++) {
      logger.log({ component: 'vm', action: 'click', message: `c${i}` });
    }
    down = false;
    await vi.advanceTimersByTimeAsync(2000);
    const report = srv.calls[2].logs[0];
    expect(report.action).toBe('log_drop');
    expect(report.fields.dropped).toBe(logger.stats().droppedTotal);
    await logger.flush();
    expect(logger.stats().droppedUnreported).toBe(0);
  });
});

describe('correlation ids', () => {
  it('gives each action its own id, carried by its entries and current while it lasts', () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch, { actionWindowMs: 10_000 });
    setUILogger(logger);
    expect(currentCorrelationId()).toBeUndefined();
    const a = logger.beginAction();
    // X-Correlation-Id: at most 128 of A-Z a-z 0-9 . _ : / + = -
    expect(a).toMatch(/^[A-Za-z0-9._:/+=-]{1,128}$/);
    expect(currentCorrelationId()).toBe(a);
    logger.log({ component: 'vm', action: 'click', message: 'Start' });
    const b = logger.beginAction();
    expect(b).not.toBe(a);
    expect(currentCorrelationId()).toBe(b);
    logger.log({ component: 'vm', action: 'submit', message: 'Create' });
    logger.log({ component: 'vm', action: 'success', message: 'old', correlationId: a });
    vi.advanceTimersByTime(10_001);
    expect(currentCorrelationId()).toBeUndefined();
    logger.log({ component: 'vm', action: 'click', message: 'later' });
    const c = logger.beginAction();
    logger.endAction(c);
    expect(currentCorrelationId()).toBeUndefined();
    return logger.flush().then(() => {
      expect(srv.entries().map((e) => e.correlation_id)).toEqual([a, b, a, undefined]);
    });
  });

  it('keeps one session id per browser session', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    const one = new UILogger({ storage });
    const two = new UILogger({ storage });
    expect(one.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(two.sessionId).toBe(one.sessionId);
    expect(store.get(SESSION_KEY)).toBe(one.sessionId);
    expect(new UILogger({ storage: null }).sessionId).not.toBe(one.sessionId);
  });
});

describe('overhead', () => {
  it('1,000 clicks spread over a minute cost at most 10 requests', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    for (let i = 0; i < 1000; i++) {
      click(logger, i);
      await vi.advanceTimersByTimeAsync(60);
    }
    await vi.advanceTimersByTimeAsync(15_000);
    expect(srv.entries()).toHaveLength(1000);
    expect(srv.calls.length).toBeLessThanOrEqual(10);
    // No entry waited more than two ticks.
    for (const c of srv.calls) {
      for (const e of c.logs) {
        expect(c.at - Date.parse(e.timestamp)).toBeLessThanOrEqual(10_000);
      }
    }
  });

  it('1,000 clicks in a burst cost at most 10 requests', async () => {
    const srv = fakeServer();
    logger = newLogger(srv.fetch);
    for (let i = 0; i < 1000; i++) {
      click(logger, i);
      if (i % 50 === 0) {
        await vi.advanceTimersByTimeAsync(0);
      }
    }
    await vi.advanceTimersByTimeAsync(15_000);
    expect(srv.entries()).toHaveLength(1000);
    expect(srv.calls.length).toBeLessThanOrEqual(10);
  });
});
