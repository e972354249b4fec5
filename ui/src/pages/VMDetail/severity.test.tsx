import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { issuesIn, severityFromAPI, severityFromLevel } from './severity';
import { LogLines, VMLogsPanel } from './VMLogsPanel';

describe('severity', () => {
  it('takes the API severity, anything else as info', () => {
    expect(severityFromAPI('error')).toBe('error');
    expect(severityFromAPI('warning')).toBe('warning');
    expect(severityFromAPI('info')).toBe('info');
    expect(severityFromAPI('bogus')).toBe('info');
    expect(severityFromAPI(undefined)).toBe('info');
    expect(severityFromLevel('error')).toBe('error');
    expect(severityFromLevel('warn')).toBe('warning');
    expect(severityFromLevel('debug')).toBe('info');
  });

  it('finds the common issues a log shows', () => {
    const found = issuesIn([
      { text: 'qemu-system-x86_64: terminating on signal 15 from pid 1234' },
      { text: 'block I/O error in device drive-virtio-disk0: No space left on device (28)' },
      { text: 'a plain line' },
    ]);
    expect(found.map((i) => i.id)).toEqual(['io', 'signal']);
    expect(issuesIn([{ text: 'Could not open /var/lib/x.qcow2: Permission denied' }]).map((i) => i.id)).toEqual([
      'permission',
    ]);
    expect(issuesIn([{ text: 'migration timed out' }]).map((i) => i.id)).toEqual(['timeout']);
    expect(issuesIn([{ text: 'all good' }])).toEqual([]);
  });
});

describe('LogLines', () => {
  it('colours errors red and warnings yellow, by the severity given, not by the text', () => {
    render(
      <LogLines
        lines={[
          { key: '1', text: 'char device redirected to /dev/pts/3', severity: 'info' },
          { key: '2', text: 'something quiet', severity: 'error' },
          { key: '3', text: 'error in the text, but the API says warning', severity: 'warning' },
        ]}
      />,
    );
    const info = screen.getByText('char device redirected to /dev/pts/3');
    const err = screen.getByText('something quiet');
    const warn = screen.getByText('error in the text, but the API says warning');
    expect(info).toHaveAttribute('data-severity', 'info');
    expect(info.style.color).toBe('');
    expect(err).toHaveAttribute('data-severity', 'error');
    expect(err.style.color).toContain('status--danger');
    expect(warn).toHaveAttribute('data-severity', 'warning');
    expect(warn.style.color).toContain('status--warning');
    // Screen readers hear the severity too.
    expect(within(err).getByText('Error:')).toBeInTheDocument();
    expect(within(warn).getByText('Warning:')).toBeInTheDocument();
  });
});

class FakeEventSource {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(public url: string) {
    FakeEventSource.instances.push(this);
  }
  addEventListener() {}
  removeEventListener() {}
  close() {}
  static CLOSED = 2;
}

afterEach(() => {
  vi.unstubAllGlobals();
  FakeEventSource.instances = [];
});

describe('VMLogsPanel', () => {
  it('shows the tail coloured by the API severity, with help on the issues it shows', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const fetchMock = vi.fn(async (url: string) => {
      expect(url).toBe('/api/vms/u-1/logs?lines=100');
      return new Response(
        JSON.stringify({
          vm_id: 'u-1',
          vm_name: 'web-1',
          log_path: '/var/log/libvirt/qemu/web-1.log',
          log_size_bytes: 300,
          lines_returned: 3,
          truncated: false,
          last_modified: '2026-01-01T00:00:00Z',
          qemu_log: '',
          lines: [
            { n: 1, text: 'starting up', severity: 'info' },
            { n: 2, text: 'warning: host doesn\'t support requested feature', severity: 'warning' },
            { n: 3, text: 'qemu-system-x86_64: terminating on signal 15', severity: 'error' },
          ],
        }),
        { status: 200, headers: { 'Content-Type': 'application/json' } },
      );
    });
    vi.stubGlobal('fetch', fetchMock);
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={qc}>
        <VMLogsPanel vmId="u-1" vmName="web-1" />
      </QueryClientProvider>,
    );
    const line = await screen.findByText('qemu-system-x86_64: terminating on signal 15');
    expect(line).toHaveAttribute('data-severity', 'error');
    expect(screen.getByText(/host doesn't support/)).toHaveAttribute('data-severity', 'warning');
    expect(screen.getByText('starting up')).toHaveAttribute('data-severity', 'info');
    expect(screen.getByText('This log shows: Terminating on signal')).toBeInTheDocument();
    expect(screen.getByRole('log', { name: 'Log of web-1' })).toBeInTheDocument();
    // Following opens the VM's qemu log stream.
    expect(FakeEventSource.instances.map((e) => e.url)).toEqual(['/api/logs/stream?vm_id=u-1&source=qemu']);
    for (const name of ['Refresh', 'Copy log to clipboard', 'Download log', '100 lines']) {
      expect(screen.getByRole('button', { name })).toBeInTheDocument();
    }
  });
});
