// Which action a VM's state allows (docs/vm-states.md, "Which action runs in
// which state"), so the console offers only what the API would accept.
import type { VM } from './api';

export type VMActionName = 'start' | 'stop' | 'reboot' | 'pause' | 'resume' | 'delete' | 'reset_state' | 'adopt';

const allowed: Record<Exclude<VMActionName, 'reset_state' | 'adopt'>, string[]> = {
  start: ['STOPPED', 'CRASHED', 'PAUSED'],
  stop: ['RUNNING', 'PAUSED', 'SUSPENDED'],
  reboot: ['RUNNING'],
  pause: ['RUNNING'],
  resume: ['PAUSED', 'SUSPENDED'],
  delete: ['STOPPED', 'CRASHED', 'ERROR', 'LOST'],
};

/**
 * whyNot says why an action cannot run on the VM now, or returns '' when it
 * can. `force` is a delete with force=true, which any state but DELETING and
 * TERMINATED allows.
 */
export function whyNot(vm: Pick<VM, 'state' | 'origin' | 'is_managed'>, action: VMActionName, force = false): string {
  if (action === 'adopt') {
    return vm.origin === 'host-discovered' ? '' : 'only a host-discovered VM can be adopted';
  }
  if (!vm.is_managed) return 'not managed by Quantix: adopt it first';
  if (vm.state === 'TERMINATED') return 'the VM is deleted';
  if (action === 'reset_state') return '';
  if (action === 'delete' && force) {
    return vm.state === 'DELETING' ? 'a delete is under way' : '';
  }
  if (allowed[action].includes(vm.state)) return '';
  if (action === 'delete' && (vm.state === 'RUNNING' || vm.state === 'PAUSED' || vm.state === 'SUSPENDED')) {
    return `cannot delete in state ${vm.state}: stop it first or force the delete`;
  }
  return `cannot ${action} in state ${vm.state}`;
}
