import { useCallback, useMemo } from 'react';
import { Alert, Button, EmptyState, EmptyStateBody, Skeleton } from '@patternfly/react-core';
import { useRecentEvents, type InventoryEvent } from '../../api/liveEvents';
import { DataTable } from '../../components/DataTable';
import { eventColumns, eventKey } from '../../components/eventColumns';
import { useActionLogger } from '../../logging';

/** How many stored events the tab starts from, and how many it keeps. */
const latest = 100;
const keep = 1000;

/**
 * NodeEventsTab is a node's history, newest first: its stored events
 * (GET /api/nodes/{id}/events), then the ones the event stream brings,
 * with older stored events on demand.
 */
export function NodeEventsTab({ nodeId }: { nodeId: string }) {
  const log = useActionLogger('node');
  const accept = useCallback((e: InventoryEvent) => e.kind === 'node' && e.node_id === nodeId, [nodeId]);
  const { events, error, pending, hasOlder, loadOlder, loadingOlder, olderError } = useRecentEvents({
    path: `/api/nodes/${encodeURIComponent(nodeId)}/events`,
    latest,
    keep,
    accept,
  });
  const columns = useMemo(() => {
    const c = eventColumns();
    return [c.time, c.action, c.state, c.cause, c.message];
  }, []);
  if (pending) return <Skeleton screenreaderText="Loading the node's events" />;
  return (
    <div style={{ paddingTop: 16 }}>
      {error && <Alert variant="warning" isInline title={`Past events cannot be read: ${error.message}. Showing new events only.`} />}
      {events.length === 0 ? (
        <EmptyState titleText="No events" headingLevel="h3">
          <EmptyStateBody>Nothing has happened to this node yet.</EmptyStateBody>
        </EmptyState>
      ) : (
        <DataTable label="Node events" variant="compact" columns={columns} rows={events} rowKey={eventKey} />
      )}
      {hasOlder && (
        <Button
          variant="secondary"
          isLoading={loadingOlder}
          isDisabled={loadingOlder}
          onClick={() => {
            log.logClick('Load older node events');
            loadOlder();
          }}
        >
          Load older
        </Button>
      )}
      {olderError && <Alert variant="warning" isInline title={`Older events cannot be read: ${olderError.message}`} />}
    </div>
  );
}

export default NodeEventsTab;
