// Severity of VM log lines: the API classifies each line of a log tail
// (`error`, `warning`, `info`) and each qemu entry of the log stream by level
// (`error`, `warn`, `info`, `debug`); the Logs tab colours lines by it and
// recognises the common issues it explains.

export type Severity = 'error' | 'warning' | 'info';

/** severityFromAPI takes a line's severity as the API gives it; anything else is info. */
export function severityFromAPI(s: string | undefined): Severity {
  return s === 'error' || s === 'warning' ? s : 'info';
}

/** severityFromLevel maps a log entry's level to a line severity. */
export function severityFromLevel(level: string | undefined): Severity {
  if (level === 'error') return 'error';
  if (level === 'warn') return 'warning';
  return 'info';
}

export interface CommonIssue {
  id: string;
  title: string;
  help: string;
  test: RegExp;
}

/** The common issues the Logs tab explains, from the most to the least serious. */
export const commonIssues: CommonIssue[] = [
  {
    id: 'io',
    title: 'IO error / no space left on device',
    help: 'The disk image or its storage is full or failing: free space on the node\'s storage pool or check the disk.',
    test: /\b(io error|i\/o error|no space left|no space)/i,
  },
  {
    id: 'signal',
    title: 'Terminating on signal',
    help: 'The hypervisor process was killed: the VM was force-stopped (a forced stop, virsh destroy) or the host ran out of memory.',
    test: /terminating on signal/i,
  },
  {
    id: 'permission',
    title: 'Permission denied',
    help: 'The hypervisor cannot open a file or device: check the ownership, permissions and security labels (AppArmor/SELinux) of the disk images and devices.',
    test: /permission denied/i,
  },
  {
    id: 'timeout',
    title: 'Timeout',
    help: 'An operation took too long: usually network or storage latency, or an overloaded host.',
    test: /\b(timeout|timed out)/i,
  },
];

/** issuesIn returns the common issues that the given lines show, in the order of commonIssues. */
export function issuesIn(lines: { text: string }[]): CommonIssue[] {
  return commonIssues.filter((issue) => lines.some((l) => issue.test.test(l.text)));
}
