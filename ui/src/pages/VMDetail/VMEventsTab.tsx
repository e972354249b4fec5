import { Alert, EmptyState, EmptyStateBody, Spinner } from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { useQuery } from '@tanstack/react-query';
import { StateLabel } from '../../components/StateLabel';
import { getVMEvents, vmKeys } from '../VMs/api';
import { errorText } from '../VMs/errors';
import { formatTime } from '../VMs/format';

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
    <Table aria-label="VM events" variant="compact">
      <Thead>
        <Tr>
          <Th>Time</Th>
          <Th>Action</Th>
          <Th>From</Th>
          <Th>To</Th>
          <Th>Cause</Th>
          <Th>Message</Th>
        </Tr>
      </Thead>
      <Tbody>
        {list.map((e) => (
          <Tr key={e.id}>
            <Td dataLabel="Time">{formatTime(e.time)}</Td>
            <Td dataLabel="Action">{e.action}</Td>
            <Td dataLabel="From">{e.old_state ? <StateLabel state={e.old_state} isCompact /> : '—'}</Td>
            <Td dataLabel="To">{e.new_state ? <StateLabel state={e.new_state} isCompact /> : '—'}</Td>
            <Td dataLabel="Cause">{e.cause}</Td>
            <Td dataLabel="Message">{e.message}</Td>
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
}

export default VMEventsTab;
