import { useMutation, useQueryClient, type QueryClient } from '@tanstack/react-query';
import {
  adoptVM,
  deleteVM,
  powerAction,
  resetState,
  vmKeys,
  type ActionResult,
  type VM,
  type VMList,
} from './api';
import type { VMActionName } from './actions';

export interface VMActionRequest {
  vm: Pick<VM, 'id' | 'name'>;
  action: VMActionName;
  /** stop: a hard stop; delete: stop a running VM first; reset_state: set STOPPED without asking the host. */
  force?: boolean;
  /** stop: seconds a graceful stop may take before it is stopped hard. */
  timeoutSec?: number;
}

/** callAction makes the API call of one VM action. */
export function callAction(r: VMActionRequest): Promise<ActionResult> {
  switch (r.action) {
    case 'delete':
      return deleteVM(r.vm.id, r.force);
    case 'reset_state':
      return resetState(r.vm.id, !!r.force);
    case 'adopt':
      return adoptVM(r.vm.id);
    default:
      return powerAction(r.vm.id, r.action, { force: r.force, timeoutSec: r.timeoutSec });
  }
}

/** storeVM puts the VM an action replied with into the cache (its detail and the list rows). */
export function storeVM(qc: QueryClient, vm: VM | undefined) {
  if (!vm) return;
  qc.setQueryData(vmKeys.detail(vm.id), vm);
  qc.setQueriesData<VMList>({ queryKey: vmKeys.lists() }, (page) =>
    page && page.vms.some((v) => v.id === vm.id)
      ? { ...page, vms: page.vms.map((v) => (v.id === vm.id ? vm : v)) }
      : page,
  );
}

/** useVMAction runs one VM action and keeps the cache in step with its reply. */
export function useVMAction() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: callAction,
    onSuccess: (reply, r) => {
      storeVM(qc, reply.vm);
      if (r.action === 'delete' || r.action === 'adopt' || (r.action === 'reset_state' && !reply.vm)) {
        void qc.invalidateQueries({ queryKey: vmKeys.lists() });
      }
    },
  });
}

export const actionTitles: Record<VMActionName, string> = {
  start: 'Start',
  stop: 'Stop',
  reboot: 'Reboot',
  pause: 'Pause',
  resume: 'Resume',
  delete: 'Delete',
  reset_state: 'Reset State',
  adopt: 'Adopt',
};
