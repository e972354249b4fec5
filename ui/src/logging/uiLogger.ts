// The UI action logger: what a user does in the console (clicks, submits,
// navigation, tab and filter changes) and what goes wrong in the page,
// recorded as log entries and shipped to POST /api/logs/ui (docs/logs.md,
// "UI ingest").
//
// Contract:
//   - Every entry carries the browser session's id (fields.ui_session_id, one
//     per tab session, kept in sessionStorage; the server sets session_id to
//     the caller's credential itself) and, when it belongs to a user action,
//     that action's correlation id. beginAction starts an action; for
//     actionWindowMs after it (or until the next action begins)
//     currentCorrelationId() returns its id, and the API client sends it as
//     X-Correlation-Id, so the audit entries of the calls the action makes
//     share it.
//   - Entries wait in a buffer of at most maxBuffer entries; past it the
//     oldest are dropped and counted, and the next request that gets through
//     carries one entry saying how many were dropped.
//   - A request carries at most batchSize entries (and at most
//     maxBatchBytes of body). A full batch is sent at once. Otherwise a
//     timer ticks every flushIntervalMs while entries wait and sends what
//     is there, except while entries are still arriving fast enough to fill
//     a batch before the next tick: then the partial batch is held over one
//     tick, so a stream of clicks costs one request per full batch and no
//     entry waits longer than two ticks.
//   - One request is in flight at a time (entries stay in order). A request
//     the server did not take for a passing reason (no answer, 5xx, 408,
//     429) is sent again after a pause that doubles from backoffBaseMs up to
//     backoffMaxMs (or the reply's Retry-After when that is longer), and
//     the pause is back to its start after a success. 401 pauses sending
//     until resume() (the session ended; the entries wait for the next
//     login); 403 means this credential may not send UI entries (a viewer):
//     what is buffered and what comes until resume() is discarded. Other
//     4xx replies drop the batch (the server said which entries were wrong).
//   - When the page is hidden or closed (flushOnHide, wired by attach), all
//     that fits is sent at once with fetch keepalive, which lets requests
//     outlive the page: the bodies of keepalive requests in flight stay
//     under the browser's 64 KiB bound, counting the regular request in
//     flight (every request is sent with keepalive, so a page closed while
//     one is in flight does not lose it).
//   - Entries are made to pass the server's checks: a known component and
//     level, a non-blank message of at most 8 KiB, action and target at most
//     512 bytes, fields a JSON object of at most 16 KiB nested at most a few
//     levels.

/** Components the server accepts (docs/logs.md, GET /api/logs/components). */
export const UI_COMPONENTS = [
  'vm',
  'storage',
  'network',
  'node',
  'cluster',
  'auth',
  'settings',
  'dashboard',
  'console',
  'logs',
  'alerts',
  'monitoring',
  'updates',
  'folders',
  'images',
  'system',
  'qemu',
] as const;
export type UIComponent = (typeof UI_COMPONENTS)[number];

/** The actions the console records. */
export const UI_ACTIONS = [
  'click',
  'submit',
  'navigate',
  'tab_switch',
  'filter_change',
  'error',
  'success',
  'log_drop',
] as const;
export type UIAction = (typeof UI_ACTIONS)[number];

/** Levels the server accepts. */
export const UI_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type UILevel = (typeof UI_LEVELS)[number];

/** What a caller logs. */
export interface UILogInput {
  component: UIComponent;
  action: UIAction;
  message: string;
  level?: UILevel;
  /** What the action was done to: a button's label, a route, a field. */
  target?: string;
  vmId?: string;
  nodeId?: string;
  /** Free-form details; kept as the entry's fields. */
  details?: Record<string, unknown>;
  /** The action this entry belongs to; by default the current one. */
  correlationId?: string;
  /** False for entries that do not record what a user did (errors of the page). */
  userAction?: boolean;
}

/** One entry as POST /api/logs/ui takes it. */
export interface UIWireEntry {
  timestamp: string;
  level: UILevel;
  component: UIComponent;
  action: UIAction;
  message: string;
  target?: string;
  vm_id?: string;
  node_id?: string;
  correlation_id?: string;
  user_action: boolean;
  fields: Record<string, unknown>;
}

/** The timer functions the logger uses; injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The part of a fetch Response the logger reads. */
export interface FetchReply {
  ok: boolean;
  status: number;
  headers: { get(name: string): string | null };
}

export type FetchLike = (url: string, init: RequestInit) => Promise<FetchReply>;

export interface UILoggerOptions {
  endpoint?: string;
  fetch?: FetchLike;
  timers?: Timers;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** In [0, 1): spreads retry pauses so that many tabs do not retry together. */
  random?: () => number;
  /** Where the session id is kept; null for none. */
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
  /** The CSRF token of the login, sent as X-CSRF-Token. */
  csrfToken?: () => string | null | undefined;
  /** The current route, recorded with each entry. */
  route?: () => string;
  flushIntervalMs?: number;
  batchSize?: number;
  maxBatchBytes?: number;
  maxBuffer?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** How long after beginAction API calls carry the action's id. */
  actionWindowMs?: number;
}

export interface UILoggerStats {
  /** Entries waiting to be sent. */
  buffered: number;
  /** Entries dropped from the full buffer and not yet reported to the server. */
  droppedUnreported: number;
  /** Entries dropped from the full buffer since the start. */
  droppedTotal: number;
  /** Requests made to the endpoint. */
  requests: number;
  /** Entries the server took. */
  accepted: number;
  /** Entries the server refused for good (or discarded after a 403). */
  refused: number;
  /** The pause before the next retry, 0 when not retrying. */
  retryDelayMs: number;
  state: 'sending' | 'paused' | 'refused';
}

/** sessionStorage key of the browser session's id. */
export const SESSION_KEY = 'quantix.uiSessionId';
/** localStorage key of the CSRF token (the app shell writes it at login). */
export const CSRF_KEY = 'quantix.csrf';
/** The browser's bound on the bodies of keepalive requests in flight. */
export const KEEPALIVE_LIMIT_BYTES = 64 * 1024;

const MAX_MESSAGE_BYTES = 8 * 1024;
const MAX_SHORT_BYTES = 512;
const MAX_FIELDS_BYTES = 16 * 1024;
const MAX_DETAIL_DEPTH = 8;
const MAX_DETAIL_STRING = 4 * 1024;
const MAX_RETRY_AFTER_MS = 10 * 60 * 1000;
// What keepalive requests may hold, a margin under the browser's bound.
const KEEPALIVE_BUDGET_BYTES = KEEPALIVE_LIMIT_BYTES - 1024;

const encoder = new TextEncoder();
const byteLength = (s: string): number => encoder.encode(s).length;

interface Prepared {
  json: string;
  bytes: number;
  loggedAt: number;
}

interface Batch {
  entries: Prepared[];
  bytes: number;
  reportedDrops: number;
}

/** A user action under way. */
export interface Action {
  id: string;
  startedAt: number;
  /** What began it (a click, a submit, ...), when the caller said. */
  kind?: UIAction;
}

/** A random UUID (v4); crypto.randomUUID exists only in secure contexts. */
export function newId(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** s cut to at most max bytes of UTF-8, on a character boundary. */
export function truncateUtf8(s: string, max: number): string {
  if (s.length * 3 <= max || byteLength(s) <= max) {
    return s;
  }
  const marker = '…';
  let out = '';
  let used = byteLength(marker);
  for (const ch of s) {
    const n = byteLength(ch);
    if (used + n > max) {
      break;
    }
    out += ch;
    used += n;
  }
  return out + marker;
}

// A JSON-safe copy of v: errors as {name, message, stack}, no cycles,
// functions and symbols left out, strings and depth bounded.
function sanitize(v: unknown, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof v) {
    case 'string':
      return truncateUtf8(v, MAX_DETAIL_STRING);
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'boolean':
      return v;
    case 'bigint':
      return v.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (v === null) {
    return null;
  }
  const o = v as object;
  if (seen.has(o)) {
    return '[circular]';
  }
  if (depth >= MAX_DETAIL_DEPTH) {
    return '[too deep]';
  }
  if (o instanceof Error) {
    return {
      name: o.name,
      message: truncateUtf8(o.message, MAX_DETAIL_STRING),
      stack: o.stack ? truncateUtf8(o.stack, MAX_DETAIL_STRING) : undefined,
    };
  }
  if (o instanceof Date) {
    return Number.isNaN(o.getTime()) ? 'Invalid Date' : o.toISOString();
  }
  seen.add(o);
  try {
    if (Array.isArray(o)) {
      return o.slice(0, 100).map((x) => {
        const s = sanitize(x, depth + 1, seen);
        return s === undefined ? null : s;
      });
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o).slice(0, 100)) {
      const s = sanitize(x, depth + 1, seen);
      if (s !== undefined) {
        out[truncateUtf8(k, MAX_SHORT_BYTES)] = s;
      }
    }
    return out;
  } finally {
    seen.delete(o);
  }
}

function retryAfterMs(h: string | null, now: number): number {
  if (!h) {
    return 0;
  }
  const secs = Number(h);
  if (Number.isFinite(secs)) {
    return Math.max(0, secs * 1000);
  }
  const at = Date.parse(h);
  return Number.isNaN(at) ? 0 : Math.max(0, at - now);
}

function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export class UILogger {
  readonly sessionId: string;

  private readonly endpoint: string;
  private readonly fetchFn: FetchLike;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly csrfToken: () => string | null | undefined;
  private readonly route: () => string;
  private readonly flushIntervalMs: number;
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;
  private readonly maxBuffer: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly actionWindowMs: number;

  private buffer: Prepared[] = [];
  private dropped = 0;
  private reportInFlight = false;
  private droppedTotal = 0;
  private inflight = new Set<Batch>();
  private inflightBytes = 0;
  private attempt = 0;
  private retryDelay = 0;
  private retryTimer: unknown = null;
  private tickTimer: unknown = null;
  private arrivedSinceTick = 0;
  private state: UILoggerStats['state'] = 'sending';
  private requests = 0;
  private accepted = 0;
  private refused = 0;
  private action: Action | null = null;
  private idle: Array<() => void> = [];
  private disposed = false;

  constructor(opts: UILoggerOptions = {}) {
    this.endpoint = opts.endpoint ?? '/api/logs/ui';
    this.fetchFn = opts.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.timers = opts.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
    };
    this.now = opts.now ?? (() => Date.now());
    this.random = opts.random ?? Math.random;
    this.csrfToken = opts.csrfToken ?? (() => safeStorage('localStorage')?.getItem(CSRF_KEY));
    this.route = opts.route ?? (() => globalThis.location?.pathname ?? '');
    this.flushIntervalMs = opts.flushIntervalMs ?? 5000;
    this.batchSize = opts.batchSize ?? 100;
    this.maxBatchBytes = Math.min(opts.maxBatchBytes ?? 60 * 1024, KEEPALIVE_BUDGET_BYTES);
    this.maxBuffer = opts.maxBuffer ?? 1000;
    this.backoffBaseMs = opts.backoffBaseMs ?? 1000;
    this.backoffMaxMs = opts.backoffMaxMs ?? 60_000;
    this.actionWindowMs = opts.actionWindowMs ?? 10_000;
    const storage = opts.storage === undefined ? safeStorage('sessionStorage') : opts.storage;
    this.sessionId = sessionIdFrom(storage);
  }

  /**
   * Starts a user action and returns its correlation id, which API calls
   * carry for actionWindowMs or until the next action begins.
   */
  beginAction(kind?: UIAction): string {
    const id = `ui-${newId()}`;
    this.action = { id, startedAt: this.now(), kind };
    return id;
  }

  /** Ends the action id early (later API calls carry no id of it). */
  endAction(id: string): void {
    if (this.action?.id === id) {
      this.action = null;
    }
  }

  /** The correlation id of the action under way, if any. */
  currentCorrelationId(): string | undefined {
    return this.activeAction(this.actionWindowMs)?.id;
  }

  /** The action under way if it began at most withinMs ago. */
  activeAction(withinMs: number): Action | undefined {
    const a = this.action;
    if (a && this.now() - a.startedAt <= withinMs) {
      return a;
    }
    return undefined;
  }

  /** Records an entry; it is sent later (see the contract above). */
  log(input: UILogInput): void {
    if (this.disposed) {
      return;
    }
    if (this.state === 'refused') {
      this.refused++;
      return;
    }
    const p = this.prepare(input);
    this.buffer.push(p);
    this.arrivedSinceTick++;
    this.trim();
    this.armTick();
    if (this.canSend() && this.fullBatchWaiting()) {
      void this.sendNext(this.maxBatchBytes);
    }
  }

  /**
   * Sends everything buffered now, batch after batch, and resolves when
   * the buffer is empty or a request failed (what failed stays buffered).
   */
  async flush(): Promise<void> {
    for (;;) {
      await this.whenIdle();
      if (this.buffer.length === 0 || !this.canSend()) {
        return;
      }
      if (!(await this.sendNext(this.maxBatchBytes))) {
        return;
      }
    }
  }

  /**
   * Sends all that fits under the keepalive bound at once, for a page
   * being hidden or closed. What does not fit stays buffered.
   */
  flushOnHide(): void {
    if (this.state !== 'sending' || this.disposed) {
      return;
    }
    while (this.buffer.length > 0) {
      const room = KEEPALIVE_BUDGET_BYTES - this.inflightBytes;
      if (this.buffer[0].bytes + 1024 > room) {
        return;
      }
      void this.sendNext(Math.min(room, this.maxBatchBytes));
    }
  }

  /** Sending stopped after a 401 or 403 starts again (after a login). */
  resume(): void {
    if (this.state === 'sending') {
      return;
    }
    this.state = 'sending';
    this.armTick();
    if (this.fullBatchWaiting()) {
      void this.sendNext(this.maxBatchBytes);
    }
  }

  /**
   * Flushes when the page is hidden or closed; returns what removes the
   * listeners.
   */
  attach(target: Window): () => void {
    const onVisibility = () => {
      if (target.document.visibilityState === 'hidden') {
        this.flushOnHide();
      }
    };
    const onPageHide = () => this.flushOnHide();
    target.document.addEventListener('visibilitychange', onVisibility);
    target.addEventListener('pagehide', onPageHide);
    return () => {
      target.document.removeEventListener('visibilitychange', onVisibility);
      target.removeEventListener('pagehide', onPageHide);
    };
  }

  /** Stops the timers; later entries are ignored. */
  dispose(): void {
    this.disposed = true;
    this.clearTick();
    if (this.retryTimer !== null) {
      this.timers.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  stats(): UILoggerStats {
    return {
      buffered: this.buffer.length,
      droppedUnreported: this.dropped,
      droppedTotal: this.droppedTotal,
      requests: this.requests,
      accepted: this.accepted,
      refused: this.refused,
      retryDelayMs: this.retryTimer === null ? 0 : this.retryDelay,
      state: this.state,
    };
  }

  private prepare(input: UILogInput): Prepared {
    const now = this.now();
    const correlationId = input.correlationId ?? this.currentCorrelationId();
    const details = input.details ? (sanitize(input.details, 1, new WeakSet()) as Record<string, unknown>) : {};
    let fields: Record<string, unknown> = { ui_session_id: this.sessionId, route: this.route(), ...details };
    const fieldsBytes = byteLength(JSON.stringify(fields));
    if (fieldsBytes > MAX_FIELDS_BYTES) {
      fields = {
        ui_session_id: this.sessionId,
        route: truncateUtf8(this.route(), MAX_SHORT_BYTES),
        details_truncated: true,
        details_bytes: fieldsBytes,
      };
    }
    const message = input.message.trim() === '' ? `${input.action} ${input.component}` : input.message;
    const e: UIWireEntry = {
      timestamp: new Date(now).toISOString(),
      level: input.level ?? 'info',
      component: input.component,
      action: input.action,
      message: truncateUtf8(message, MAX_MESSAGE_BYTES),
      user_action: input.userAction ?? true,
      fields,
    };
    if (input.target) {
      e.target = truncateUtf8(input.target, MAX_SHORT_BYTES);
    }
    if (input.vmId) {
      e.vm_id = truncateUtf8(input.vmId, MAX_SHORT_BYTES);
    }
    if (input.nodeId) {
      e.node_id = truncateUtf8(input.nodeId, MAX_SHORT_BYTES);
    }
    if (correlationId) {
      e.correlation_id = truncateUtf8(correlationId, MAX_SHORT_BYTES);
    }
    const json = JSON.stringify(e);
    return { json, bytes: byteLength(json), loggedAt: now };
  }

  // The entry saying how many entries were dropped, sent first in a batch.
  private dropReport(): Prepared {
    const n = this.dropped;
    const e: UIWireEntry = {
      timestamp: new Date(this.now()).toISOString(),
      level: 'warn',
      component: 'logs',
      action: 'log_drop',
      message: `${n} UI log ${n === 1 ? 'entry was' : 'entries were'} dropped: the browser's buffer of ${this.maxBuffer} entries was full while the server did not take them`,
      user_action: false,
      fields: { ui_session_id: this.sessionId, route: this.route(), dropped: n, buffer_size: this.maxBuffer },
    };
    const json = JSON.stringify(e);
    return { json, bytes: byteLength(json), loggedAt: this.now() };
  }

  // Keeps the buffer within maxBuffer by dropping the oldest entries.
  private trim(): void {
    const over = this.buffer.length - this.maxBuffer;
    if (over > 0) {
      this.buffer.splice(0, over);
      this.dropped += over;
      this.droppedTotal += over;
    }
  }

  private canSend(): boolean {
    return this.state === 'sending' && !this.disposed && this.inflight.size === 0 && this.retryTimer === null;
  }

  private fullBatchWaiting(): boolean {
    if (this.buffer.length >= this.batchSize) {
      return true;
    }
    let bytes = 0;
    for (const p of this.buffer) {
      bytes += p.bytes + 1;
      if (bytes > this.maxBatchBytes) {
        return true;
      }
    }
    return false;
  }

  private armTick(): void {
    if (this.tickTimer === null && this.buffer.length > 0 && !this.disposed) {
      this.tickTimer = this.timers.setTimeout(() => this.onTick(), this.flushIntervalMs);
    }
  }

  private clearTick(): void {
    if (this.tickTimer !== null) {
      this.timers.clearTimeout(this.tickTimer);
      this.tickTimer = null;
    }
  }

  private onTick(): void {
    this.tickTimer = null;
    const arrived = this.arrivedSinceTick;
    this.arrivedSinceTick = 0;
    if (this.buffer.length === 0) {
      return;
    }
    if (!this.canSend()) {
      // The reply in flight, the retry or resume() carries on from here.
      return;
    }
    if (!this.fullBatchWaiting()) {
      // Entries are still coming, fast enough to fill a batch before the
      // next tick: hold them over, once (the oldest waits at most two
      // ticks).
      const now = this.now();
      const oldestAge = now - this.buffer[0].loggedAt;
      const newestAge = now - this.buffer[this.buffer.length - 1].loggedAt;
      if (
        this.buffer.length + arrived >= this.batchSize &&
        newestAge < this.flushIntervalMs / 5 &&
        oldestAge <= this.flushIntervalMs
      ) {
        this.armTick();
        return;
      }
    }
    void this.sendNext(this.maxBatchBytes);
    this.armTick();
  }

  // Takes the next batch (at most batchSize entries and maxBytes of body)
  // off the buffer and sends it. Resolves true when the server took it (or
  // refused it for good), false when it stays to be sent again.
  private async sendNext(maxBytes: number): Promise<boolean> {
    const entries: Prepared[] = [];
    let bytes = '{"logs":[]}'.length;
    let reportedDrops = 0;
    if (this.dropped > 0 && !this.reportInFlight) {
      const r = this.dropReport();
      entries.push(r);
      bytes += r.bytes;
      reportedDrops = this.dropped;
      this.reportInFlight = true;
    }
    let take = 0;
    while (take < this.buffer.length && entries.length < this.batchSize) {
      const p = this.buffer[take];
      const add = p.bytes + (entries.length > 0 ? 1 : 0);
      if (entries.length > 0 && bytes + add > maxBytes) {
        break;
      }
      entries.push(p);
      bytes += add;
      take++;
    }
    if (entries.length === 0) {
      return true;
    }
    const taken = this.buffer.splice(0, take);
    const batch: Batch = { entries, bytes, reportedDrops };
    const body = `{"logs":[${entries.map((p) => p.json).join(',')}]}`;
    this.inflight.add(batch);
    this.inflightBytes += bytes;
    this.requests++;

    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const csrf = this.csrfToken();
    if (csrf) {
      headers['X-CSRF-Token'] = csrf;
    }
    let reply: FetchReply | null;
    try {
      reply = await this.fetchFn(this.endpoint, {
        method: 'POST',
        credentials: 'same-origin',
        headers,
        body,
        keepalive: true,
      });
    } catch {
      reply = null;
    }
    this.inflight.delete(batch);
    this.inflightBytes -= bytes;
    if (reportedDrops > 0) {
      this.reportInFlight = false;
    }
    const ok = this.settle(batch, taken, reply);
    if (this.inflight.size === 0) {
      const waiting = this.idle;
      this.idle = [];
      waiting.forEach((f) => f());
    }
    if (ok && this.canSend() && this.fullBatchWaiting()) {
      void this.sendNext(this.maxBatchBytes);
    }
    this.armTick();
    return ok;
  }

  // Acts on a reply (null: no answer); true when the batch is done with.
  private settle(batch: Batch, taken: Prepared[], reply: FetchReply | null): boolean {
    const status = reply?.status ?? 0;
    if (reply && reply.ok) {
      this.accepted += batch.entries.length;
      this.dropped = Math.max(0, this.dropped - batch.reportedDrops);
      this.resetBackoff();
      return true;
    }
    if (reply === null || retryable(status)) {
      this.requeue(taken);
      this.scheduleRetry(reply);
      return false;
    }
    if (status === 401) {
      // The session ended: keep the entries for the next login.
      this.requeue(taken);
      this.state = 'paused';
      this.resetBackoff();
      return false;
    }
    if (status === 403) {
      // This credential may not send UI entries: discard until resume().
      this.refused += batch.entries.length + this.buffer.length;
      this.buffer = [];
      this.dropped = 0;
      this.state = 'refused';
      this.clearTick();
      this.resetBackoff();
      return false;
    }
    // Refused for good (400, 413, 422): the server named the bad entries;
    // sending them again would not change its answer.
    this.refused += batch.entries.length;
    this.dropped = Math.max(0, this.dropped - batch.reportedDrops);
    this.resetBackoff();
    return true;
  }

  private requeue(taken: Prepared[]): void {
    if (this.state === 'refused') {
      this.refused += taken.length;
      return;
    }
    this.buffer = taken.concat(this.buffer);
    this.trim();
  }

  private resetBackoff(): void {
    this.attempt = 0;
    this.retryDelay = 0;
  }

  private scheduleRetry(reply: FetchReply | null): void {
    if (this.retryTimer !== null || this.disposed) {
      return;
    }
    const backoff = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** this.attempt);
    this.attempt++;
    // Up to a fifth shorter, at random, so that tabs do not retry together.
    let delay = Math.round(backoff * (1 - 0.2 * this.random()));
    const after = Math.min(MAX_RETRY_AFTER_MS, retryAfterMs(reply?.headers.get('Retry-After') ?? null, this.now()));
    delay = Math.max(delay, after);
    this.retryDelay = delay;
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      if (this.state === 'sending' && this.inflight.size === 0) {
        void this.sendNext(this.maxBatchBytes);
      } else {
        this.armTick();
      }
    }, delay);
  }

  private whenIdle(): Promise<void> {
    if (this.inflight.size === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

function safeStorage(kind: 'sessionStorage' | 'localStorage'): Storage | null {
  try {
    return (globalThis as unknown as Record<string, Storage | undefined>)[kind] ?? null;
  } catch {
    return null;
  }
}

function sessionIdFrom(storage: Pick<Storage, 'getItem' | 'setItem'> | null): string {
  try {
    const had = storage?.getItem(SESSION_KEY);
    if (had) {
      return had;
    }
    const id = newId();
    storage?.setItem(SESSION_KEY, id);
    return id;
  } catch {
    return newId();
  }
}

let instance: UILogger | null = null;

/** The console's logger, made on first use with the browser's defaults. */
export function getUILogger(): UILogger {
  if (!instance) {
    instance = new UILogger();
  }
  return instance;
}

/** Replaces the console's logger (tests); returns the one it replaced. */
export function setUILogger(l: UILogger | null): UILogger | null {
  const old = instance;
  instance = l;
  return old;
}

/**
 * The correlation id of the user action under way, for the API client's
 * X-Correlation-Id header; undefined when no action is under way.
 */
export function currentCorrelationId(): string | undefined {
  return instance?.currentCorrelationId();
}
