import { describe, expect, it } from 'vitest';
import {
  activeFilterCount,
  emptyFilters,
  exportFileName,
  exportUrl,
  filtersError,
  filtersFromQuery,
  filtersToQuery,
  timeBoundError,
  type LogFilters,
} from './filters';

const full: LogFilters = {
  level: 'warn',
  sources: ['audit', 'qemu'],
  components: ['vm', 'node'],
  vmId: 'vm-1',
  nodeId: 'node-a',
  correlationId: 'c-42',
  sessionId: 'session:abc',
  userActions: false,
  q: 'no space',
  since: '15m',
  until: '2026-01-18T10:00:00Z',
};

describe('log filters and the query string', () => {
  it('writes nothing for empty filters', () => {
    expect(filtersToQuery(emptyFilters())).toBe('');
    expect(activeFilterCount(emptyFilters())).toBe(0);
  });

  it('writes every filter under the API name, lists comma-separated', () => {
    const p = new URLSearchParams(filtersToQuery(full));
    expect(p.get('level')).toBe('warn');
    expect(p.get('source')).toBe('audit,qemu');
    expect(p.get('component')).toBe('vm,node');
    expect(p.get('vm_id')).toBe('vm-1');
    expect(p.get('node_id')).toBe('node-a');
    expect(p.get('correlation_id')).toBe('c-42');
    expect(p.get('session_id')).toBe('session:abc');
    expect(p.get('q')).toBe('no space');
    expect(p.get('since')).toBe('15m');
    expect(p.get('until')).toBe('2026-01-18T10:00:00Z');
    expect(p.has('user_action')).toBe(false);
    expect(activeFilterCount(full)).toBe(10);
  });

  it('reads back what it writes', () => {
    expect(filtersFromQuery(filtersToQuery(full))).toEqual(full);
    const ua = { ...emptyFilters(), userActions: true, q: 'a&b=c ü' };
    expect(filtersFromQuery(filtersToQuery(ua))).toEqual(ua);
  });

  it('"User actions" asks for source ui and user_action true, whatever sources were chosen', () => {
    const p = new URLSearchParams(filtersToQuery({ ...emptyFilters(), sources: ['audit'], userActions: true }));
    expect(p.get('source')).toBe('ui');
    expect(p.get('user_action')).toBe('true');
  });

  it('reads repeated and comma-separated lists, the search alias, and ignores an unknown level', () => {
    const f = filtersFromQuery('?source=audit&source=ui,qemu&component=vm,,vm&level=loud&search=boot');
    expect(f.sources).toEqual(['audit', 'ui', 'qemu']);
    expect(f.components).toEqual(['vm']);
    expect(f.level).toBeUndefined();
    expect(f.q).toBe('boot');
  });

  it('trims values and leaves out blank ones', () => {
    const q = filtersToQuery({ ...emptyFilters(), vmId: '  ', correlationId: ' x ' });
    expect(q).toBe('correlation_id=x');
  });
});

describe('export URL', () => {
  it('carries the current filters and the format', () => {
    const u = new URL(exportUrl(full, 'csv'), 'http://h');
    expect(u.pathname).toBe('/api/logs/export');
    expect(u.searchParams.get('format')).toBe('csv');
    expect(u.searchParams.get('level')).toBe('warn');
    expect(u.searchParams.get('source')).toBe('audit,qemu');
    expect(u.searchParams.get('q')).toBe('no space');
  });

  it('is the format alone without filters', () => {
    expect(exportUrl(emptyFilters(), 'json')).toBe('/api/logs/export?format=json');
    expect(exportUrl({ ...emptyFilters(), userActions: true }, 'txt')).toBe(
      '/api/logs/export?source=ui&user_action=true&format=txt',
    );
  });

  it('names the file by time and format', () => {
    expect(exportFileName('txt', new Date('2026-01-18T10:11:12.345Z'))).toBe('quantix-logs-2026-01-18T10-11-12Z.txt');
  });
});

describe('time bounds', () => {
  it('takes durations and RFC 3339 times', () => {
    for (const ok of ['', '15m', '1h30m', '1.5h', '90s', '2026-01-18T10:00:00Z', '2026-01-18T10:00:00.5+01:00']) {
      expect(timeBoundError(ok), ok).toBeUndefined();
    }
  });

  it('refuses anything else, and says how to write days', () => {
    expect(timeBoundError('7d')).toBe('use hours for days: 168h');
    expect(timeBoundError('yesterday')).toMatch(/RFC 3339/);
    expect(timeBoundError('2026-01-18 10:00')).toMatch(/RFC 3339/);
    expect(filtersError({ ...emptyFilters(), since: 'x' })).toMatch(/^From:/);
    expect(filtersError({ ...emptyFilters(), until: 'x' })).toMatch(/^To:/);
    expect(filtersError({ ...emptyFilters(), q: 'a'.repeat(1001) })).toMatch(/^Text:/);
    expect(filtersError(full)).toBeUndefined();
  });
});
