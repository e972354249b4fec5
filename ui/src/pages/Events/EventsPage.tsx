import { useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import {
  Alert,
  AlertActionCloseButton,
  Button,
  FormSelect,
  FormSelectOption,
  PageSection,
  Switch,
  TextInput,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarGroup,
  ToolbarItem,
} from '@patternfly/react-core';
import { api, withQuery } from '../../api/client';
import { indexNames, useNodes, useNodeVMs, useVMIndex } from '../../api/inventory';
import { pushEvents, useRecentEvents } from '../../api/liveEvents';
import type { GapEvent, LatestEvents, VM } from '../../api/types';
import { DataTable } from '../../components/DataTable';
import { eventColumns, eventKey } from '../../components/eventColumns';
import { LiveStatus } from '../../components/LiveStatus';
import { useActionLogger } from '../../logging';
import {
  CAUSES,
  NODE_ACTIONS,
  VM_ACTIONS,
  emptyEventFilters,
  eventFiltersFromQuery,
  eventFiltersToQuery,
  eventMatches,
  type EventFilters,
} from './eventFilters';

/** How many stored events the page starts from, and how many it keeps. */
const latest = 200;
const keep = 2000;

export default function EventsPage() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => eventFiltersFromQuery(params), [params]);
  const [gap, setGap] = useState<GapEvent | undefined>(undefined);
  const [vmText, setVmText] = useState(filters.vm);
  const log = useActionLogger('vm');
  // The server filters the stored history; the page filters what the
  // stream brings (eventMatches).
  // Node events only: the stored node events, filtered by node (the page
  // filters actions). Otherwise the stored VM events; without a VM or cause
  // filter the stored node events are merged in (nodeHistory).
  const nodeKind = filters.kind === 'node';
  const { events: listed, status, error, pending, hasOlder, loadOlder, loadingOlder, olderError } = useRecentEvents({
    latest,
    keep,
    filters: nodeKind
      ? { kind: 'node', node_id: filters.node }
      : { vm_id: filters.vm, node_id: filters.node, action: filters.action, cause: filters.cause },
    onGap: setGap,
  });
  const mergeNodes = filters.kind === '' && !filters.vm && !filters.cause;
  const nodeHistory = useQuery({
    queryKey: ['events', 'latest', 'nodes', filters.node],
    enabled: mergeNodes,
    queryFn: ({ signal }) =>
      api.get<LatestEvents>(withQuery('/api/events', { latest, kind: 'node', node_id: filters.node }), { signal }),
    staleTime: Infinity,
    gcTime: 0,
    retry: false,
    refetchOnWindowFocus: false,
  });
  const events = useMemo(
    () => (mergeNodes && nodeHistory.data ? pushEvents(listed, [...nodeHistory.data.events].reverse(), listed.length + nodeHistory.data.events.length) : listed),
    [listed, mergeNodes, nodeHistory.data],
  );
  const nodes = useNodes();
  const vmIndex = useVMIndex();
  const vmNames = useMemo(() => (vmIndex.data ? indexNames(vmIndex.data) : undefined), [vmIndex.data]);
  const nodeVMs = useNodeVMs(filters.node, filters.node !== '');
  // A VM may be named instead of given by id: events carry ids.
  const vm = useQuery({
    queryKey: ['vms', 'one', filters.vm],
    enabled: filters.vm !== '',
    queryFn: ({ signal }) => api.get<VM>(`/api/vms/${encodeURIComponent(filters.vm)}`, { signal }),
    retry: false,
  });

  const set = (patch: Partial<EventFilters>) => {
    const next = { ...filters, ...patch };
    for (const [k, v] of Object.entries(patch)) log.logFilterChange(k, String(v));
    setParams(eventFiltersToQuery(next), { replace: true });
  };

  const vmsOnNode = useMemo(() => new Set((nodeVMs.data ?? []).map((v) => v.id)), [nodeVMs.data]);
  const vmFilterId = vm.data?.id ?? filters.vm;
  const shown = useMemo(
    () => events.filter((e) => eventMatches(e, { ...filters, vm: vmFilterId }, vmsOnNode)),
    [events, filters, vmFilterId, vmsOnNode],
  );
  const actions = filters.kind === 'node' ? NODE_ACTIONS : filters.kind === 'vm' ? VM_ACTIONS : [...new Set([...VM_ACTIONS, ...NODE_ACTIONS])];
  const anyFilter = eventFiltersToQuery(filters) !== '';
  const anyServerFilter = !!(filters.vm || filters.node || filters.action || filters.cause);
  const columns = useMemo(() => {
    const c = eventColumns(vmNames);
    return [c.time, c.subject, c.action, c.state, c.cause, c.message];
  }, [vmNames]);

  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Events</Title>
        <p>Every change of a VM or a node, newest first, live.</p>
      </PageSection>
      <PageSection>
        <Toolbar>
          <ToolbarContent>
            <ToolbarGroup variant="filter-group">
              <ToolbarItem>
                <FormSelect
                  aria-label="Kind"
                  value={filters.kind}
                  onChange={(_e, v) => set({ kind: v as EventFilters['kind'], action: '' })}
                >
                  <FormSelectOption value="" label="VMs and nodes" />
                  <FormSelectOption value="vm" label="VM events" />
                  <FormSelectOption value="node" label="Node events" />
                </FormSelect>
              </ToolbarItem>
              <ToolbarItem>
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    set({ vm: vmText.trim() });
                  }}
                >
                  <TextInput
                    aria-label="VM"
                    placeholder="VM id or name, then Enter"
                    value={vmText}
                    onChange={(_e, v) => setVmText(v)}
                    onBlur={() => vmText.trim() !== filters.vm && set({ vm: vmText.trim() })}
                  />
                </form>
              </ToolbarItem>
              <ToolbarItem>
                <FormSelect aria-label="Node" value={filters.node} onChange={(_e, v) => set({ node: v })}>
                  <FormSelectOption value="" label="Any node" />
                  {(nodes.data ?? []).map((n) => (
                    <FormSelectOption key={n.id} value={n.id} label={n.name} />
                  ))}
                  {filters.node && !(nodes.data ?? []).some((n) => n.id === filters.node) && (
                    <FormSelectOption value={filters.node} label={filters.node} />
                  )}
                </FormSelect>
              </ToolbarItem>
              <ToolbarItem>
                <FormSelect aria-label="Action" value={filters.action} onChange={(_e, v) => set({ action: v })}>
                  <FormSelectOption value="" label="Any action" />
                  {actions.map((a) => (
                    <FormSelectOption key={a} value={a} label={a} />
                  ))}
                </FormSelect>
              </ToolbarItem>
              <ToolbarItem>
                <FormSelect aria-label="Cause" value={filters.cause} onChange={(_e, v) => set({ cause: v })}>
                  <FormSelectOption value="" label="Any cause" />
                  {CAUSES.map((c) => (
                    <FormSelectOption key={c} value={c} label={c} />
                  ))}
                </FormSelect>
              </ToolbarItem>
              <ToolbarItem>
                <Switch
                  id="events-heartbeats"
                  label="Show heartbeats"
                  isChecked={filters.heartbeats}
                  onChange={(_e, v) => set({ heartbeats: v })}
                />
              </ToolbarItem>
              {anyFilter && (
                <ToolbarItem>
                  <Button
                    variant="link"
                    onClick={() => {
                      setVmText('');
                      setParams(eventFiltersToQuery(emptyEventFilters()), { replace: true });
                    }}
                  >
                    Clear filters
                  </Button>
                </ToolbarItem>
              )}
            </ToolbarGroup>
            <ToolbarItem align={{ default: 'alignEnd' }}>
              <LiveStatus status={status} /> <span aria-live="polite">{shown.length} shown</span>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
        {gap && (
          <Alert variant="warning" isInline title="Some events were missed" actionClose={<AlertActionCloseButton onClose={() => setGap(undefined)} />}>
            {gap.message} The page reconnected to fetch them; node events in between may be missing.
          </Alert>
        )}
        {error && <Alert variant="warning" isInline title={`Past events cannot be read: ${error.message}. Showing new events only.`} />}
        {filters.vm && vm.isError && (
          <Alert variant="warning" isInline title={`No VM is named ${filters.vm}: showing events of the VM with that id`} />
        )}
        <DataTable
          label="Events"
          variant="compact"
          columns={columns}
          rows={shown}
          rowKey={eventKey}
          empty={events.length === 0 ? 'No events yet.' : 'No event matches the filters.'}
        />
        <div className="quantix-events-older">
          {hasOlder ? (
            <Button
              variant="secondary"
              isLoading={loadingOlder}
              isDisabled={loadingOlder}
              onClick={() => {
                log.logClick('Load older events');
                loadOlder();
              }}
            >
              Load older events
            </Button>
          ) : (
            !pending && !error && <p>{anyServerFilter ? 'No older events match these filters.' : 'No older events are stored.'}</p>
          )}
          {olderError && <Alert variant="warning" isInline title={`Older events cannot be read: ${olderError.message}`} />}
        </div>
      </PageSection>
    </>
  );
}
