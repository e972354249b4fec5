import { useMemo } from 'react';
import { Link } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import {
  Alert,
  Card,
  CardBody,
  CardTitle,
  EmptyState,
  EmptyStateBody,
  Flex,
  FlexItem,
  Gallery,
  Grid,
  GridItem,
  PageSection,
  Skeleton,
  Title,
} from '@patternfly/react-core';
import SyncAltIcon from '@patternfly/react-icons/dist/esm/icons/sync-alt-icon';
import { nodesKey, useNodes, indexCounts, indexNames, useVMIndex, vmCountsKey } from '../../api/inventory';
import { useRecentEvents, type InventoryEvent } from '../../api/liveEvents';
import { StateLabel } from '../../components/StateLabel';
import { DataTable } from '../../components/DataTable';
import { eventColumns, eventKey } from '../../components/eventColumns';
import { nodeColumns, nodeKey } from '../../components/nodeColumns';
import { LiveStatus } from '../../components/LiveStatus';
import { LoggedButton } from '../../logging';
import { orderStates } from './states';
import { BusiestVMs } from '../Monitoring/BusiestVMs';
import './dashboard.css';

const nodeTableColumns = [nodeColumns.name, nodeColumns.state, nodeColumns.backend, nodeColumns.vms, nodeColumns.heartbeat];

/** How many events the dashboard shows. */
const recentCount = 10;

// Heartbeats would push everything else out: the dashboard shows changes.
const notHeartbeat = (e: InventoryEvent) => e.action !== 'heartbeat';

export default function DashboardPage() {
  const qc = useQueryClient();
  const index = useVMIndex();
  const counts = useMemo(() => (index.data ? indexCounts(index.data) : undefined), [index.data]);
  const names = useMemo(() => (index.data ? indexNames(index.data) : undefined), [index.data]);
  const nodes = useNodes();
  const eventTableColumns = useMemo(() => {
    const c = eventColumns(names);
    return [c.time, c.subject, c.action, c.state];
  }, [names]);
  const { events: recent, status } = useRecentEvents({ latest: recentCount, keep: recentCount, accept: notHeartbeat });

  const refreshing = index.isFetching || nodes.isFetching;
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: vmCountsKey });
    void qc.invalidateQueries({ queryKey: nodesKey });
  };

  const total = counts ? Object.values(counts).reduce((a, b) => a + b, 0) : 0;

  return (
    <>
      <PageSection>
        <Flex justifyContent={{ default: 'justifyContentSpaceBetween' }} alignItems={{ default: 'alignItemsCenter' }}>
          <FlexItem>
            <Title headingLevel="h1">Dashboard</Title>
          </FlexItem>
          <FlexItem>
            <Flex alignItems={{ default: 'alignItemsCenter' }}>
              <LiveStatus status={status} />
              <LoggedButton logComponent="dashboard" variant="secondary" icon={<SyncAltIcon />} onClick={refresh} isLoading={refreshing}>
                Refresh
              </LoggedButton>
            </Flex>
          </FlexItem>
        </Flex>
      </PageSection>
      <PageSection>
        <Grid hasGutter>
          <GridItem md={12}>
            <Card>
              <CardTitle>
                <Title headingLevel="h2">Virtual machines {counts ? `(${String(total)})` : ''}</Title>
              </CardTitle>
              <CardBody>
                {index.isError && <Alert variant="danger" isInline title={`VMs cannot be counted: ${index.error.message}`} />}
                {index.isPending && <Skeleton screenreaderText="Counting VMs" />}
                {counts && total === 0 && (
                  <p>
                    No VMs yet. <Link to="/vms">Create one on the Virtual machines page.</Link>
                  </p>
                )}
                {counts && total > 0 && (
                  <Gallery hasGutter minWidths={{ default: '140px' }} aria-label="VM counts by state" component="ul">
                    {orderStates(Object.keys(counts)).map((s) => (
                      <li key={s}>
                        <Link to={`/vms?state=${encodeURIComponent(s)}`} aria-label={`${String(counts[s])} ${counts[s] === 1 ? 'VM' : 'VMs'} ${s}`}>
                          <Card isCompact isPlain>
                            <CardBody>
                              <div className="quantix-count">{counts[s]}</div>
                              <StateLabel state={s} isCompact />
                            </CardBody>
                          </Card>
                        </Link>
                      </li>
                    ))}
                  </Gallery>
                )}
              </CardBody>
            </Card>
          </GridItem>
          <GridItem md={12}>
            <Card>
              <CardTitle>
                <Title headingLevel="h2">Busiest VMs</Title>
              </CardTitle>
              <CardBody>
                <BusiestVMs />
              </CardBody>
            </Card>
          </GridItem>
          <GridItem lg={6}>
            <Card>
              <CardTitle>
                <Title headingLevel="h2">Nodes {nodes.data ? `(${String(nodes.data.length)})` : ''}</Title>
              </CardTitle>
              <CardBody>
                {nodes.isError && <Alert variant="danger" isInline title={`Nodes cannot be read: ${nodes.error.message}`} />}
                {nodes.isPending && <Skeleton screenreaderText="Loading nodes" />}
                {nodes.data && nodes.data.length === 0 && (
                  <EmptyState titleText="No nodes" headingLevel="h3">
                    <EmptyStateBody>No agent has joined yet: see the Nodes page.</EmptyStateBody>
                  </EmptyState>
                )}
                {nodes.data && nodes.data.length > 0 && (
                  <DataTable label="Nodes" variant="compact" columns={nodeTableColumns} rows={nodes.data} rowKey={nodeKey} />
                )}
              </CardBody>
            </Card>
          </GridItem>
          <GridItem lg={6}>
            <Card>
              <CardTitle>
                <Flex justifyContent={{ default: 'justifyContentSpaceBetween' }}>
                  <Title headingLevel="h2">Recent events</Title>
                  <Link to="/events">All events</Link>
                </Flex>
              </CardTitle>
              <CardBody>
                {recent.length === 0 ? (
                  <p>No events yet.</p>
                ) : (
                  <DataTable label="Recent events" variant="compact" columns={eventTableColumns} rows={recent} rowKey={eventKey} />
                )}
              </CardBody>
            </Card>
          </GridItem>
        </Grid>
      </PageSection>
    </>
  );
}
