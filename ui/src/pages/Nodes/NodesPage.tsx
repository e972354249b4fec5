import { useMemo, useState } from 'react';
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
import { useNodes } from '../../api/inventory';
import { useLiveEvents } from '../../api/liveEvents';
import { DataTable } from '../../components/DataTable';
import { nodeColumns, nodeKey } from '../../components/nodeColumns';
import { LiveStatus } from '../../components/LiveStatus';

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
          <DataTable label="Nodes" columns={columns} rows={shown} rowKey={nodeKey} empty={<>No node matches “{search}”.</>} />
        )}
      </PageSection>
    </>
  );
}

const c = nodeColumns;
const columns = [c.name, c.state, c.address, c.host, c.cpus, c.memory, c.backend, c.vms, c.heartbeat];
