import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import {
  Alert,
  EmptyState,
  EmptyStateBody,
  PageSection,
  SearchInput,
  Skeleton,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { useNodes } from '../../api/inventory';
import { useLiveEvents } from '../../api/liveEvents';
import { StateLabel } from '../../components/StateLabel';
import { BackendHealth } from '../../components/NodeHealth';
import { ago } from '../../components/EventRow';
import { LiveStatus } from '../../components/LiveStatus';
import { formatMiB } from './format';

export default function NodesPage() {
  const nodes = useNodes();
  const status = useLiveEvents();
  const [search, setSearch] = useState('');
  const shown = useMemo(() => {
    const q = search.trim().toLowerCase();
    const all = nodes.data ?? [];
    if (!q) return all;
    return all.filter((n) => [n.name, n.id, n.address, n.host.hostname, n.backend.name].some((s) => s.toLowerCase().includes(q)));
  }, [nodes.data, search]);

  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Nodes</Title>
      </PageSection>
      <PageSection>
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <SearchInput
                aria-label="Search nodes"
                placeholder="Name, address, host or backend"
                value={search}
                onChange={(_e, v) => setSearch(v)}
                onClear={() => setSearch('')}
              />
            </ToolbarItem>
            <ToolbarItem align={{ default: 'alignEnd' }}>
              <LiveStatus status={status} />
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
        {nodes.isError && <Alert variant="danger" isInline title={`Nodes cannot be read: ${nodes.error.message}`} />}
        {nodes.isPending && <Skeleton screenreaderText="Loading nodes" />}
        {nodes.data && nodes.data.length === 0 && (
          <EmptyState titleText="No nodes" headingLevel="h2">
            <EmptyStateBody>
              No agent has joined yet. Make a join token with quantix node token create and give it to the new node's agent as agent.join_token.
            </EmptyStateBody>
          </EmptyState>
        )}
        {nodes.data && nodes.data.length > 0 && (
          <Table aria-label="Nodes">
            <Thead>
              <Tr>
                <Th>Name</Th>
                <Th>State</Th>
                <Th>Address</Th>
                <Th>Host</Th>
                <Th>CPUs</Th>
                <Th>Memory</Th>
                <Th>Backend</Th>
                <Th>VMs</Th>
                <Th>Heartbeat</Th>
              </Tr>
            </Thead>
            <Tbody>
              {shown.map((n) => (
                <Tr key={n.id}>
                  <Td dataLabel="Name">
                    <Link to={`/nodes/${encodeURIComponent(n.id)}`}>{n.name}</Link>
                  </Td>
                  <Td dataLabel="State">
                    <StateLabel state={n.state} isCompact />
                    {!n.connected && n.state === 'READY' ? ' (not connected)' : ''}
                  </Td>
                  <Td dataLabel="Address">{n.address || '—'}</Td>
                  <Td dataLabel="Host">
                    {n.host.hostname || '—'} {n.host.arch ? `(${n.host.arch})` : ''}
                  </Td>
                  <Td dataLabel="CPUs">{n.host.cpus || '—'}</Td>
                  <Td dataLabel="Memory">{formatMiB(n.host.memory_mib)}</Td>
                  <Td dataLabel="Backend">
                    <BackendHealth node={n} isCompact />
                  </Td>
                  <Td dataLabel="VMs">
                    <Link to={`/vms?node_id=${encodeURIComponent(n.id)}`} aria-label={`${String(n.vm_count)} VMs on ${n.name}`}>
                      {n.vm_count}
                    </Link>
                  </Td>
                  <Td dataLabel="Heartbeat">{ago(n.last_heartbeat)}</Td>
                </Tr>
              ))}
              {shown.length === 0 && (
                <Tr>
                  <Td colSpan={9}>No node matches “{search}”.</Td>
                </Tr>
              )}
            </Tbody>
          </Table>
        )}
      </PageSection>
    </>
  );
}
