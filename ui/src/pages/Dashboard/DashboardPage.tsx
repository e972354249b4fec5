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
  Label,
  PageSection,
  Skeleton,
  Title,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import SyncAltIcon from '@patternfly/react-icons/dist/esm/icons/sync-alt-icon';
import { nodesKey, useNodes, indexCounts, indexNames, useVMIndex, vmCountsKey } from '../../api/inventory';
import { useRecentEvents, type InventoryEvent } from '../../api/liveEvents';
import { StateLabel } from '../../components/StateLabel';
import { BackendHealth } from '../../components/NodeHealth';
import { EventSubject, Time, ago, stateChange } from '../../components/EventRow';
import { LiveStatus } from '../../components/LiveStatus';
import { LoggedButton } from '../../logging';
import { orderStates } from './states';
import './dashboard.css';

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
                  <Table aria-label="Nodes" variant="compact">
                    <Thead>
                      <Tr>
                        <Th>Name</Th>
                        <Th>State</Th>
                        <Th>Backend</Th>
                        <Th>VMs</Th>
                        <Th>Heartbeat</Th>
                      </Tr>
                    </Thead>
                    <Tbody>
                      {nodes.data.map((n) => (
                        <Tr key={n.id}>
                          <Td dataLabel="Name">
                            <Link to={`/nodes/${encodeURIComponent(n.id)}`}>{n.name}</Link>
                          </Td>
                          <Td dataLabel="State">
                            <StateLabel state={n.state} isCompact />
                          </Td>
                          <Td dataLabel="Backend">
                            <BackendHealth node={n} isCompact />
                          </Td>
                          <Td dataLabel="VMs">{n.vm_count}</Td>
                          <Td dataLabel="Heartbeat">{ago(n.last_heartbeat)}</Td>
                        </Tr>
                      ))}
                    </Tbody>
                  </Table>
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
                  <Table aria-label="Recent events" variant="compact">
                    <Thead>
                      <Tr>
                        <Th>Time</Th>
                        <Th>Subject</Th>
                        <Th>Action</Th>
                        <Th>State</Th>
                      </Tr>
                    </Thead>
                    <Tbody>
                      {recent.map((ev) => (
                        <Tr key={`${ev.kind}:${ev.id}`}>
                          <Td dataLabel="Time">
                            <Time iso={ev.time} />
                          </Td>
                          <Td dataLabel="Subject">
                            <EventSubject ev={ev} vmNames={names} />
                          </Td>
                          <Td dataLabel="Action">
                            <Label isCompact>{ev.action}</Label>
                          </Td>
                          <Td dataLabel="State">{stateChange(ev)}</Td>
                        </Tr>
                      ))}
                    </Tbody>
                  </Table>
                )}
              </CardBody>
            </Card>
          </GridItem>
        </Grid>
      </PageSection>
    </>
  );
}
