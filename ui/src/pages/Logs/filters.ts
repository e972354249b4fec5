// The Logs page's filters and their two spellings: the page's own URL
// (so a filtered view can be linked and survives a reload) and the query of
// GET /api/logs, /api/logs/export and /api/logs/stream, which take the same
// filters (docs/logs.md, "Query, export, stream"). Both use the API's
// parameter names, so one parser and one writer serve both.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const EXPORT_FORMATS = ['json', 'csv', 'txt'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The longest text query the API takes (longer is 400). */
export const MAX_QUERY_LENGTH = 1000;

export interface LogFilters {
  /** Minimum level; undefined for every level. */
  level?: LogLevel;
  /** Sources to keep; empty for every source. */
  sources: string[];
  /** Components to keep; empty for every component. */
  components: string[];
  vmId: string;
  nodeId: string;
  correlationId: string;
  sessionId: string;
  /**
   * "User actions" only: the entries recording what a user did in a front
   * end (source ui, user_action true). When set it replaces the sources.
   */
  userActions: boolean;
  /** Text in message, action or target. */
  q: string;
  /** RFC 3339 time or a Go duration meaning that long ago (15m); inclusive. */
  since: string;
  /** Same forms as since; exclusive. */
  until: string;
}

export const emptyFilters = (): LogFilters => ({
  level: undefined,
  sources: [],
  components: [],
  vmId: '',
  nodeId: '',
  correlationId: '',
  sessionId: '',
  userActions: false,
  q: '',
  since: '',
  until: '',
});

const isLevel = (v: string): v is LogLevel => (LOG_LEVELS as readonly string[]).includes(v);

/** Values of a list parameter, given comma-separated or repeated. */
function listParam(p: URLSearchParams, name: string): string[] {
  const out: string[] = [];
  for (const raw of p.getAll(name)) {
    for (const v of raw.split(',')) {
      const t = v.trim();
      if (t !== '' && !out.includes(t)) out.push(t);
    }
  }
  return out;
}

/**
 * Reads filters from a query string (the page's location.search). Unknown
 * parameters and an unknown level are ignored; `search` is taken for `q`
 * as the API does.
 */
export function filtersFromQuery(search: string | URLSearchParams): LogFilters {
  const p = typeof search === 'string' ? new URLSearchParams(search) : search;
  const f = emptyFilters();
  const level = (p.get('level') ?? '').trim().toLowerCase();
  if (isLevel(level)) f.level = level;
  f.sources = listParam(p, 'source');
  f.components = listParam(p, 'component');
  f.vmId = (p.get('vm_id') ?? '').trim();
  f.nodeId = (p.get('node_id') ?? '').trim();
  f.correlationId = (p.get('correlation_id') ?? '').trim();
  f.sessionId = (p.get('session_id') ?? '').trim();
  f.userActions = p.get('user_action') === 'true';
  if (f.userActions) f.sources = [];
  f.q = p.get('q') ?? p.get('search') ?? '';
  f.since = (p.get('since') ?? '').trim();
  f.until = (p.get('until') ?? '').trim();
  return f;
}

/**
 * Writes filters as query parameters of the API (and of the page's URL):
 * only what is set, lists comma-separated, in a fixed order so equal
 * filters give equal strings (and equal query keys).
 */
export function filtersToParams(f: LogFilters): URLSearchParams {
  const p = new URLSearchParams();
  if (f.level) p.set('level', f.level);
  if (f.userActions) {
    p.set('source', 'ui');
    p.set('user_action', 'true');
  } else if (f.sources.length > 0) {
    p.set('source', f.sources.join(','));
  }
  if (f.components.length > 0) p.set('component', f.components.join(','));
  const exact: [string, string][] = [
    ['vm_id', f.vmId],
    ['node_id', f.nodeId],
    ['correlation_id', f.correlationId],
    ['session_id', f.sessionId],
  ];
  for (const [k, v] of exact) {
    if (v.trim() !== '') p.set(k, v.trim());
  }
  if (f.q.trim() !== '') p.set('q', f.q.trim());
  if (f.since.trim() !== '') p.set('since', f.since.trim());
  if (f.until.trim() !== '') p.set('until', f.until.trim());
  return p;
}

export const filtersToQuery = (f: LogFilters): string => filtersToParams(f).toString();

/** How many filters are set (for a "n filters" badge and "Clear all"). */
export function activeFilterCount(f: LogFilters): number {
  let n = 0;
  if (f.level) n++;
  if (f.userActions) n++;
  else if (f.sources.length > 0) n++;
  if (f.components.length > 0) n++;
  for (const v of [f.vmId, f.nodeId, f.correlationId, f.sessionId, f.q, f.since, f.until]) {
    if (v.trim() !== '') n++;
  }
  return n;
}

/** The link that downloads every entry matching f as a file of format. */
export function exportUrl(f: LogFilters, format: ExportFormat): string {
  const p = filtersToParams(f);
  p.set('format', format);
  return `/api/logs/export?${p.toString()}`;
}

/** The file name an export is saved under. */
export function exportFileName(format: ExportFormat, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  return `quantix-logs-${stamp}.${format}`;
}

// A Go duration (time.ParseDuration): a sequence of decimal numbers, each
// with a unit, such as 15m, 1h30m, 1.5h. No days: 7 days is 168h.
const goDuration = /^(\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))*$/;
// RFC 3339 with a zone, as Go's time.RFC3339 parses it.
const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Checks a since/until value: empty, an RFC 3339 time or a duration. Returns
 * what is wrong, or undefined when it is fine.
 */
export function timeBoundError(v: string): string | undefined {
  const t = v.trim();
  if (t === '') return undefined;
  if (goDuration.test(t)) return undefined;
  if (rfc3339.test(t) && !Number.isNaN(Date.parse(t))) return undefined;
  if (/^\d+d$/.test(t)) {
    return `use hours for days: ${String(Number(t.slice(0, -1)) * 24)}h`;
  }
  return 'an RFC 3339 time (2026-01-18T10:00:00Z) or a duration ago (15m, 2h)';
}

/** Whether the filters can be sent: every field the API checks is valid. */
export function filtersError(f: LogFilters): string | undefined {
  if (f.q.length > MAX_QUERY_LENGTH) return `Text: at most ${String(MAX_QUERY_LENGTH)} characters`;
  const s = timeBoundError(f.since);
  if (s) return `From: ${s}`;
  const u = timeBoundError(f.until);
  if (u) return `To: ${u}`;
  return undefined;
}
