import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api, fieldOf, onUnauthorized, setCorrelationProvider, setCsrfToken, withQuery } from './client';

type Call = { url: string; init: RequestInit };
let calls: Call[];

function reply(status: number, body?: unknown, headers: Record<string, string> = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

function mockFetch(res: () => Response) {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return res();
    }),
  );
}

const header = (c: Call, name: string) => new Headers(c.init.headers).get(name);

beforeEach(() => {
  calls = [];
});
afterEach(() => {
  vi.unstubAllGlobals();
  setCorrelationProvider(null);
});

describe('api client', () => {
  it('sends the CSRF token on changes only', async () => {
    setCsrfToken('csrf-1');
    mockFetch(() => reply(200, { ok: true }));
    await api.get('/api/vms');
    await api.post('/api/vms/a/start');
    expect(header(calls[0], 'X-CSRF-Token')).toBeNull();
    expect(header(calls[1], 'X-CSRF-Token')).toBe('csrf-1');
    expect(calls[1].init.credentials).toBe('same-origin');
  });

  it('sends JSON bodies and parses JSON replies', async () => {
    mockFetch(() => reply(201, { id: 'x', name: 'web-1' }));
    const vm = await api.post<{ id: string }>('/api/vms', { name: 'web-1', vcpus: 1 });
    expect(vm.id).toBe('x');
    expect(calls[0].init.body).toBe('{"name":"web-1","vcpus":1}');
    expect(header(calls[0], 'Content-Type')).toBe('application/json');
  });

  it('returns undefined for 204', async () => {
    mockFetch(() => new Response(null, { status: 204 }));
    await expect(api.delete('/api/users/bob')).resolves.toBeUndefined();
  });

  it('turns {code, message} replies into ApiError with the 422 field', async () => {
    mockFetch(() => reply(422, { code: 'invalid_argument', message: 'vcpus: must be at least 1' }, { 'X-Request-Id': 'r1' }));
    const err = await api.post('/api/vms', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBe(422);
    expect(e.code).toBe('invalid_argument');
    expect(e.message).toBe('vcpus: must be at least 1');
    expect(e.field).toBe('vcpus');
    expect(e.requestId).toBe('r1');
  });

  it('names the field only for 422', async () => {
    mockFetch(() => reply(409, { code: 'conflict', message: 'name: taken' }));
    const e = (await api.post('/api/vms', {}).catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('conflict');
    expect(e.field).toBeUndefined();
  });

  it('keeps a failed action reply as the body', async () => {
    const body = { success: false, code: 'conflict', message: 'state RUNNING refuses start', vm: { id: 'a' } };
    mockFetch(() => reply(409, body));
    const e = (await api.post('/api/vms/a/start').catch((x: unknown) => x)) as ApiError;
    expect(e.body).toEqual(body);
  });

  it('makes an error of a reply without a JSON body', async () => {
    mockFetch(() => new Response('bad gateway', { status: 502, statusText: 'Bad Gateway' }));
    const e = (await api.get('/api/vms').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(502);
    expect(e.code).toBe('http_502');
    expect(e.message).toContain('502');
  });

  it('reports an unreachable server as status 0', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    const e = (await api.get('/api/vms').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(0);
    expect(e.code).toBe('network');
  });

  it('sets X-Correlation-Id per call or from the provider', async () => {
    mockFetch(() => reply(200, {}));
    await api.get('/api/vms');
    expect(header(calls[0], 'X-Correlation-Id')).toBeNull();
    setCorrelationProvider(() => 'action-1');
    await api.get('/api/vms');
    await api.post('/api/vms/a/stop', undefined, { correlationId: 'own-2' });
    expect(header(calls[1], 'X-Correlation-Id')).toBe('action-1');
    expect(header(calls[2], 'X-Correlation-Id')).toBe('own-2');
  });

  it('calls the 401 handlers unless asked not to', async () => {
    mockFetch(() => reply(401, { code: 'unauthenticated', message: 'no credentials' }));
    const seen: string[] = [];
    const off = onUnauthorized((e) => seen.push(e.code));
    await api.get('/api/vms').catch(() => undefined);
    await api.post('/api/auth/login', {}, { noAuthRedirect: true }).catch(() => undefined);
    off();
    await api.get('/api/vms').catch(() => undefined);
    expect(seen).toEqual(['unauthenticated']);
  });
});

describe('withQuery', () => {
  it('repeats arrays and leaves out empty values', () => {
    expect(withQuery('/api/logs', { source: ['ui', 'audit'], level: 'warn', q: '', vm_id: undefined, limit: 50 })).toBe(
      '/api/logs?source=ui&source=audit&level=warn&limit=50',
    );
    expect(withQuery('/api/vms', {})).toBe('/api/vms');
    expect(withQuery('/api/vms?state=RUNNING', { label: 'a=b' })).toBe('/api/vms?state=RUNNING&label=a%3Db');
  });
});

describe('fieldOf', () => {
  it('takes the field path a message starts with', () => {
    expect(fieldOf('vcpus: must be at least 1')).toBe('vcpus');
    expect(fieldOf('disks[0].size_gib: must be positive')).toBe('disks[0].size_gib');
    expect(fieldOf('memory_mib: too small: 1')).toBe('memory_mib');
    expect(fieldOf('the VM is RUNNING')).toBeUndefined();
  });
});
