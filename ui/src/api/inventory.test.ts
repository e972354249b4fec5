import { describe, expect, it } from 'vitest';
import { applyNodeEvent, applyVMEventToIndex, countByState, indexCounts, type VMIndex } from './inventory';
import type { Node, NodeStreamEvent } from './types';

const index: VMIndex = {
  vms: {
    a: { name: 'web-1', state: 'RUNNING', updated_at: '2026-01-18T10:00:00Z' },
    b: { name: 'web-2', state: 'STOPPED', updated_at: '2026-01-18T10:00:00Z' },
  },
};

describe('the VM index follows events', () => {
  it('moves a VM to its new state when the event is newer', () => {
    const next = applyVMEventToIndex(index, { vm_id: 'b', time: '2026-01-18T10:00:01Z', action: 'start', new_state: 'RUNNING' });
    expect(next && indexCounts(next)).toEqual({ RUNNING: 2 });
    expect(indexCounts(index)).toEqual({ RUNNING: 1, STOPPED: 1 });
  });

  it('ignores events of history the index already holds', () => {
    expect(applyVMEventToIndex(index, { vm_id: 'b', time: '2026-01-18T09:00:00Z', action: 'start', new_state: 'STARTING' })).toBe(index);
    expect(applyVMEventToIndex(index, { vm_id: 'a', time: '2026-01-18T11:00:00Z', action: 'observe', new_state: 'RUNNING' })).toBe(index);
  });

  it('asks to read again for VMs that come, go or are unknown', () => {
    expect(applyVMEventToIndex(index, { vm_id: 'c', time: '2026-01-18T11:00:00Z', action: 'observe', new_state: 'RUNNING' })).toBeUndefined();
    expect(applyVMEventToIndex(index, { vm_id: 'c', time: '2026-01-18T11:00:00Z', action: 'create', new_state: 'CREATING' })).toBeUndefined();
    expect(applyVMEventToIndex(index, { vm_id: 'a', time: '2026-01-18T11:00:00Z', action: 'delete', new_state: 'TERMINATED' })).toBeUndefined();
  });

  it('counts by state', () => {
    expect(countByState([{ state: 'RUNNING' }, { state: 'RUNNING' }, { state: 'LOST' }])).toEqual({ RUNNING: 2, LOST: 1 });
  });
});

const node: Node = {
  id: 'n1', name: 'host-a', state: 'READY', address: '10.0.0.1', claimed_address: '10.0.0.1', connected: true,
  last_heartbeat: '2026-01-18T10:00:00Z', vm_count: 2,
  host: { hostname: 'a', cpus: 4, memory_mib: 8192, arch: 'amd64', hypervisor: 'QEMU', hypervisor_version: '8', kvm_usable: true },
  backend: { name: 'libvirt', version: '10', healthy: true, error: '' },
  created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-18T10:00:00Z',
};
const ev = (over: Partial<NodeStreamEvent>): NodeStreamEvent => ({
  kind: 'node', id: '1.1', node_id: 'n1', node_name: 'host-a', time: '2026-01-18T10:00:10Z', action: 'heartbeat',
  old_state: 'READY', new_state: 'READY', backend_healthy: true, message: '', ...over,
});

describe('a node follows its events', () => {
  it('takes a heartbeat and the backend health', () => {
    const n = applyNodeEvent(node, ev({ backend_healthy: false }));
    expect(n.last_heartbeat).toBe('2026-01-18T10:00:10Z');
    expect(n.backend.healthy).toBe(false);
    expect(node.backend.healthy).toBe(true);
  });

  it('becomes unreachable, and disconnected', () => {
    expect(applyNodeEvent(node, ev({ action: 'unreachable', new_state: 'UNREACHABLE' })).state).toBe('UNREACHABLE');
    expect(applyNodeEvent(node, ev({ action: 'disconnect' })).connected).toBe(false);
  });

  it('ignores an event older than what it shows', () => {
    expect(applyNodeEvent(node, ev({ time: '2026-01-18T09:00:00Z', new_state: 'UNREACHABLE' }))).toBe(node);
  });
});
