import { Label } from '@patternfly/react-core';
import type { StreamStatus } from '../api/sse';

const looks: Record<StreamStatus, { text: string; status?: 'success' | 'warning' | 'danger' }> = {
  connecting: { text: 'Connecting…' },
  open: { text: 'Live', status: 'success' },
  reconnecting: { text: 'Reconnecting…', status: 'warning' },
  closed: { text: 'Not live', status: 'danger' },
};

/** Whether a page's live stream is connected. */
export function LiveStatus({ status }: { status: StreamStatus }) {
  const l = looks[status];
  return (
    <Label status={l.status} isCompact aria-live="polite">
      {l.text}
    </Label>
  );
}
