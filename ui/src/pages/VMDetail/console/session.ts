// The logic of the VM's serial console (GET /api/vms/{id}/console as a
// WebSocket, docs/api.md "The serial console"), apart from the terminal:
// where to connect, when the console can open, and what a close means.
import type { VMState } from '../../../api/types';

/** The close codes the server sends (docs/api.md). */
export const closeCodes = {
  normal: 1000,
  goingAway: 1001,
  abnormal: 1006,
  policy: 1008,
  refusedBase: 4000,
  vmStopped: 4100,
  takenOver: 4101,
  nodeGone: 4102,
  tooSlow: 4103,
  ended: 4104,
} as const;

/** The states in which a VM's console opens: those in which its hypervisor process runs. */
export const consoleStates: readonly VMState[] = ['STARTING', 'RUNNING', 'PAUSED', 'STOPPING', 'REBOOTING'];

/**
 * consoleURL is the WebSocket URL of the console of VM `id` on the server
 * the page came from (the session cookie goes with it; the server checks
 * that the page's origin is its own).
 */
export function consoleURL(loc: Pick<Location, 'protocol' | 'host'>, id: string, force = false): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}/api/vms/${encodeURIComponent(id)}/console${force ? '?force=true' : ''}`;
}

/**
 * whyNoConsole says why the console cannot be opened now, or '' when it can:
 * the caller's role (`denied`, from useOperate), the VM's state, or a backend
 * known to have no console.
 */
export function whyNoConsole(state: VMState, denied: string, unsupported: string): string {
  if (denied) return denied;
  if (unsupported) return unsupported;
  if (!consoleStates.includes(state)) return `The VM is ${state}: its console opens only while it runs.`;
  return '';
}

/** What a closed console means for the tab. */
export interface ConsoleEnd {
  /** The status line: why the console ended or was refused. */
  message: string;
  /** Whether a "Take over" action makes sense: another user holds it, or took it. */
  canTakeOver: boolean;
  /** Whether the backend has no console at all (501): the tab stays disabled. */
  unsupported: boolean;
  /** Whether it ended as a failure (shown as an error) rather than a normal end. */
  failed: boolean;
}

/**
 * describeClose turns a WebSocket close (code and reason) into what the tab
 * shows. `byUser` is set when the user pressed Disconnect.
 */
export function describeClose(code: number, reason: string, byUser = false): ConsoleEnd {
  const end = (message: string, failed = true, canTakeOver = false, unsupported = false): ConsoleEnd => ({
    message,
    failed,
    canTakeOver,
    unsupported,
  });
  const why = reason.trim();
  if (byUser) return end('Disconnected.', false);
  switch (code) {
    case closeCodes.normal:
      return end(why ? `The console closed: ${why}.` : 'The console closed.', false);
    case closeCodes.goingAway:
      return end(`The console ended: ${why || 'the server is shutting down'}.`);
    case closeCodes.abnormal:
      return end('The connection to the server was lost, or the server refused the console (is your session still valid?).');
    case closeCodes.policy:
      return end(`The console ended: ${why || 'your session ended'}.`);
    case closeCodes.vmStopped:
      return end(`The console ended: ${why || 'the VM stopped'}.`, false);
    case closeCodes.takenOver:
      return end(`The console was ${why || 'taken over by another user'}.`, true, true);
    case closeCodes.nodeGone:
      return end(`The console ended: ${why || "the VM's node went away"}.`);
    case closeCodes.tooSlow:
      return end(`The console ended: ${why || 'this page did not keep up with its output'}.`);
    case closeCodes.ended:
      return end(`The console ended: ${why || 'closed on the node'}.`);
  }
  if (code >= closeCodes.refusedBase + 400 && code < closeCodes.refusedBase + 600) {
    const status = code - closeCodes.refusedBase;
    const text = why || `refused (${status})`;
    if (status === 501) return end(`No console: ${text}.`, true, false, true);
    if (status === 409) return end(`The console cannot open: ${text}.`, true, /in use by/i.test(why));
    return end(`The console cannot open: ${text}.`);
  }
  return end(why ? `The console ended: ${why} (code ${code}).` : `The console ended (code ${code}).`);
}

/** encoder turns what the terminal sends (a string) into the bytes sent. */
const encoder = new TextEncoder();

/** keyBytes is what the terminal's input `data` is on the wire: UTF-8. */
export function keyBytes(data: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(data);
}
