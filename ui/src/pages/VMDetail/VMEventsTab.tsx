import { Alert, EmptyState, EmptyStateBody, Spinner } from '@patternfly/react-core';
import { DataTable, type Column } from '../../components/DataTable';
import { useQuery } from '@tanstack/react-query';
import { StateLabel } from '../../components/StateLabel';
import { getVMEvents, vmKeys, type VMEvent } from '../VMs/api';
import { errorText } from '../VMs/errors';
import { formatTime } from '../VMs/format';

const columns: Column<VMEvent>[] = [
  { title: 'Time', cell: (e) => formatTime(e.time) },
  { title: 'Action', cell: (e) => e.action },
  { title: 'From', cell: (e) => (e.old_state ? <StateLabel state={e.old_state} isCompact /> : '—') },
  { title: 'To', cell: (e) => (e.new_state ? <StateLabel state={e.new_state} isCompact /> : '—') },
  { title: 'Cause', cell: (e) => e.cause },
  { title: 'Message', cell: (e) => e.message },
];

/**
 * VMEventsTab is the VM's history, newest first. New events come from the
 * page's event stream, which appends them to the cached history.
 */
export function VMEventsTab({ vmId }: { vmId: string }) {
  const events = useQuery({ queryKey: vmKeys.events(vmId), queryFn: () => getVMEvents(vmId) });
  if (events.isLoading) return <Spinner aria-label="Loading events" />;
  if (events.isError)
    return (
      <Alert variant="danger" isInline title="The events could not be read">
        {errorText(events.error)}
      </Alert>
    );
  const list = [...(events.data ?? [])].reverse();
  if (list.length === 0)
    return (
      <EmptyState titleText="No events" headingLevel="h3">
        <EmptyStateBody>Nothing has happened to this VM yet.</EmptyStateBody>
      </EmptyState>
    );
  return (
    <DataTable label="VM events" variant="compact" columns={columns} rows={list} rowKey={(e) => String(e.id)} />
  );
}

export default VMEventsTab;
