// The console's HTTP client for the quantixd API: same-origin, with the
// session cookie; JSON in and out; errors as ApiError. Every change (any
// method but GET/HEAD/OPTIONS) carries the login's CSRF token in
// X-CSRF-Token. A call made for a user action carries that action's
// correlation id in X-Correlation-Id (see setCorrelationProvider and the
// correlationId option), so its audit entries can be found from the action.

export const CSRF_STORAGE_KEY = 'quantix.csrf';

/** The `{code, message}` error of the API (docs/api.md "Replies and errors"). */
export class ApiError extends Error {
  /** The HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  /** The API's code (`not_found`, `invalid_argument`, ...); `network` when unreachable. */
  readonly code: string;
  /**
   * For a 422 (`invalid_argument`): the field the message starts with
   * (`vcpus: must be at least 1` → `vcpus`), else undefined.
   */
  readonly field?: string;
  /** The reply's body as parsed, for replies with more than code and message (e.g. a failed action's `vm`). */
  readonly body?: unknown;
  /** The X-Request-Id of the reply, to look for in the server's log. */
  readonly requestId?: string;

  constructor(status: number, code: string, message: string, opts: { body?: unknown; requestId?: string } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = opts.body;
    this.requestId = opts.requestId;
    if (status === 422) this.field = fieldOf(message);
  }
}

/** The field a 422 message names: the text before the first ": " when it looks like a field path. */
export function fieldOf(message: string): string | undefined {
  const m = /^([A-Za-z_][A-Za-z0-9_]*(?:(?:\.[A-Za-z0-9_]+)|(?:\[\d+\]))*):\s/.exec(message);
  return m ? m[1] : undefined;
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

// --- CSRF token -----------------------------------------------------------

export function getCsrfToken(): string | null {
  try {
    return localStorage.getItem(CSRF_STORAGE_KEY);
  } catch {
    return null;
  }
}

export function setCsrfToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(CSRF_STORAGE_KEY, token);
    else localStorage.removeItem(CSRF_STORAGE_KEY);
  } catch {
    // Storage refused (private mode): changes will be refused with 403.
  }
}

// --- Correlation ids --------------------------------------------------------

type CorrelationProvider = () => string | undefined;
let correlationProvider: CorrelationProvider = () => undefined;

/**
 * Sets what gives the correlation id of the user action in progress (the UI
 * logger does). A call's own `correlationId` option wins over it.
 */
export function setCorrelationProvider(p: CorrelationProvider | null): void {
  correlationProvider = p ?? (() => undefined);
}

// --- 401 handling -----------------------------------------------------------

type UnauthorizedHandler = (err: ApiError) => void;
const unauthorizedHandlers = new Set<UnauthorizedHandler>();

/**
 * Registers a function called on every 401 reply (except the login's own),
 * the auth context's way of sending the user to /login. Returns the
 * function that removes it.
 */
export function onUnauthorized(h: UnauthorizedHandler): () => void {
  unauthorizedHandlers.add(h);
  return () => unauthorizedHandlers.delete(h);
}

// --- Requests ---------------------------------------------------------------

export type Query = Record<string, string | number | boolean | undefined | null | readonly (string | number)[]>;

export interface RequestOptions {
  method?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Query parameters; arrays repeat the parameter, undefined/null/'' are left out. */
  query?: Query;
  /** X-Correlation-Id for this call; defaults to the current action's (setCorrelationProvider). */
  correlationId?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Sent with keepalive (for a flush while the page closes). */
  keepalive?: boolean;
  /** Do not call the 401 handlers (the login form's own request). */
  noAuthRedirect?: boolean;
}

/** Appends query parameters to a path. */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) {
      for (const x of v) qs.append(k, String(x));
    } else {
      qs.append(k, String(v));
    }
  }
  const s = qs.toString();
  if (!s) return path;
  return path + (path.includes('?') ? '&' : '?') + s;
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Sends a request to the API and returns the reply's JSON (undefined for 204). */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = (opts.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (!safeMethods.has(method)) {
    const csrf = getCsrfToken();
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  const cid = opts.correlationId ?? correlationProvider();
  if (cid) headers['X-Correlation-Id'] = cid;

  let res: Response;
  try {
    res = await fetch(withQuery(path, opts.query), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: opts.signal,
      keepalive: opts.keepalive,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `the server cannot be reached: ${e instanceof Error ? e.message : String(e)}`);
  }
  const requestId = res.headers.get('X-Request-Id') ?? undefined;
  if (res.status === 204 || method === 'HEAD') return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (res.ok) throw new ApiError(res.status, 'bad_reply', `the server's reply to ${method} ${path} is not JSON`, { requestId });
    }
  }
  if (!res.ok) {
    const obj = (data && typeof data === 'object' ? data : {}) as { code?: unknown; message?: unknown };
    const code = typeof obj.code === 'string' ? obj.code : `http_${res.status}`;
    const message =
      typeof obj.message === 'string' && obj.message ? obj.message : `${method} ${path}: ${res.status} ${res.statusText}`.trim();
    const err = new ApiError(res.status, code, message, { body: data, requestId });
    if (res.status === 401 && !opts.noAuthRedirect) {
      for (const h of unauthorizedHandlers) h(err);
    }
    throw err;
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, opts?: Omit<RequestOptions, 'method' | 'body'>) => request<T>(path, { ...opts, method: 'GET' }),
  post: <T>(path: string, body?: unknown, opts?: Omit<RequestOptions, 'method' | 'body'>) =>
    request<T>(path, { ...opts, method: 'POST', body }),
  patch: <T>(path: string, body?: unknown, opts?: Omit<RequestOptions, 'method' | 'body'>) =>
    request<T>(path, { ...opts, method: 'PATCH', body }),
  delete: <T>(path: string, opts?: Omit<RequestOptions, 'method' | 'body'>) => request<T>(path, { ...opts, method: 'DELETE' }),
};
