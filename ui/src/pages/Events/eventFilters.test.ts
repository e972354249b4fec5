import { describe, expect, it } from 'vitest';
import {
  emptyEventFilters,
  eventFiltersFromQuery,
  eventFiltersToQuery,
  eventMatches,
  pushEvents,
  type NodeStreamEvent,
  type VMStreamEvent,
} from './eventFilters';

const vmEv = (id: string, over: Partial<VMStreamEvent> = {}): VMStreamEvent => ({
  kind: 'vm', id, event_id: Number(id), vm_id: 'vm-1', time: '2026-01-18T10:00:00Z', action: 'start',
  old_state: 'STOPPED', new_state: 'RUNNING', cause: 'api', message: '', ...over,
});
const nodeEv = (id: string, over: Partial<NodeStreamEvent> = {}): NodeStreamEvent => ({
  kind: 'node', id, node_id: 'n-1', node_name: 'host-a', time: '2026-01-18T10:00:00Z', action: 'register',
  old_state: '', new_state: 'READY', backend_healthy: true, message: '', ...over,
});

describe('event filters', () => {
  it('round-trip through the query string', () => {
    const f = { kind: 'vm' as const, vm: 'vm-1', node: 'host-a', action: 'start', cause: 'api', heartbeats: true };
    expect(eventFiltersFromQuery(eventFiltersToQuery(f))).toEqual(f);
    expect(eventFiltersToQuery(emptyEventFilters())).toBe('');
    expect(eventFiltersFromQuery('kind=other').kind).toBe('');
  });

  it('keep events by VM, action and cause', () => {
    const f = { ...emptyEventFilters(), vm: 'vm-1', cause: 'api' };
    expect(eventMatches(vmEv('1'), f)).toBe(true);
    expect(eventMatches(vmEv('1', { vm_id: 'vm-2' }), f)).toBe(false);
    expect(eventMatches(vmEv('1', { cause: 'host' }), f)).toBe(false);
    expect(eventMatches(nodeEv('1.1'), f)).toBe(false);
    expect(eventMatches(vmEv('1', { action: 'stop' }), { ...emptyEventFilters(), action: 'start' })).toBe(false);
  });

  it('keep a node by id or name, and the events of its VMs', () => {
    const f = { ...emptyEventFilters(), node: 'host-a' };
    expect(eventMatches(nodeEv('1.1'), f)).toBe(true);
    expect(eventMatches(nodeEv('1.1'), { ...f, node: 'n-1' })).toBe(true);
    expect(eventMatches(nodeEv('1.1', { node_name: 'host-b', node_id: 'n-2' }), f)).toBe(false);
    expect(eventMatches(vmEv('2'), f, new Set(['vm-1']))).toBe(true);
    expect(eventMatches(vmEv('2'), f, new Set(['vm-9']))).toBe(false);
    expect(eventMatches(vmEv('2'), f)).toBe(false);
  });

  it('keep one kind', () => {
    expect(eventMatches(nodeEv('1.1'), { ...emptyEventFilters(), kind: 'vm' })).toBe(false);
    expect(eventMatches(vmEv('1'), { ...emptyEventFilters(), kind: 'vm' })).toBe(true);
  });

  it('hide heartbeats unless asked for', () => {
    const hb = nodeEv('1.2', { action: 'heartbeat' });
    expect(eventMatches(hb, emptyEventFilters())).toBe(false);
    expect(eventMatches(hb, { ...emptyEventFilters(), heartbeats: true })).toBe(true);
    expect(eventMatches(hb, { ...emptyEventFilters(), action: 'heartbeat' })).toBe(true);
  });
});

describe('pushEvents', () => {
  it('puts the newest first, drops repeats and bounds the list', () => {
    let list = pushEvents([], [vmEv('1'), vmEv('2')], 3);
    expect(list.map((e) => e.id)).toEqual(['2', '1']);
    list = pushEvents(list, [vmEv('2'), nodeEv('2.1'), vmEv('3')], 3);
    expect(list.map((e) => e.id)).toEqual(['3', '2.1', '2']);
  });

  it('orders by time, not by arrival', () => {
    const list = pushEvents(
      [],
      [vmEv('5', { time: '2026-01-18T10:00:05Z' }), nodeEv('5.1', { time: '2026-01-18T10:00:01Z' }), vmEv('6', { time: '2026-01-18T10:00:06Z' })],
      10,
    );
    expect(list.map((e) => e.id)).toEqual(['6', '5', '5.1']);
  });
});
