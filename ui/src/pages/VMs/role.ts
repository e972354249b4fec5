// Whether the signed-in user may change VMs, and what to say when not.
import { useAuth } from '../../app/auth';

/** useOperate returns '' when the user may operate VMs, else why not, for a tooltip. */
export function useOperate(what: string): string {
  return useAuth().whyNot('operator', what) ?? '';
}
