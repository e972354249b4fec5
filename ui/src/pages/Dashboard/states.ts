/** The VM states in the order a console shows them: running first, trouble next, the rest after. */
export const STATE_ORDER = [
  'RUNNING', 'STOPPED', 'PAUSED', 'SUSPENDED', 'CRASHED', 'ERROR', 'LOST', 'UNKNOWN',
  'CREATING', 'STARTING', 'STOPPING', 'REBOOTING', 'MIGRATING', 'DELETING', 'TERMINATED',
];

/** The states given, known ones in STATE_ORDER, others after them by name. */
export function orderStates(states: readonly string[]): string[] {
  const rank = (s: string) => {
    const i = STATE_ORDER.indexOf(s);
    return i < 0 ? STATE_ORDER.length : i;
  };
  return [...states].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
