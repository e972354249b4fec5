import { useState } from 'react';
import { Link, useParams } from 'react-router';
import {
  Alert,
  Breadcrumb,
  BreadcrumbItem,
  Card,
  CardBody,
  CardTitle,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Flex,
  Grid,
  GridItem,
  PageSection,
  Skeleton,
  Tab,
  TabTitleText,
  Tabs,
  Title,
} from '@patternfly/react-core';
import { isApiError } from '../../api/client';
import { useNode, useNodeVMs } from '../../api/inventory';
import { useLiveEvents } from '../../api/liveEvents';
import { StateLabel } from '../../components/StateLabel';
import { BackendHealth } from '../../components/NodeHealth';
import { LiveStatus } from '../../components/LiveStatus';
import { Time, ago } from '../../components/EventRow';
import { DataTable, type Column } from '../../components/DataTable';
import type { VM } from '../../api/types';
import { formatMiB } from '../Nodes/format';
import { MonitoringPanel } from '../Monitoring/MonitoringPanel';
import { NodeEventsTab } from './NodeEventsTab';

function Item({ term, children }: { term: string; children: React.ReactNode }) {
  return (
    <DescriptionListGroup>
      <DescriptionListTerm>{term}</DescriptionListTerm>
      <DescriptionListDescription>{children}</DescriptionListDescription>
    </DescriptionListGroup>
  );
}

const vmColumns: Column<VM>[] = [
  { title: 'Name', cell: (v) => <Link to={`/vms/${encodeURIComponent(v.id)}`}>{v.name}</Link> },
  { title: 'State', cell: (v) => <StateLabel state={v.state} isCompact /> },
  { title: 'vCPUs', cell: (v) => v.spec.vcpus },
  { title: 'Memory', cell: (v) => formatMiB(v.spec.memory_mib) },
  { title: 'Origin', cell: (v) => `${v.origin}${v.is_managed ? '' : ' (not managed)'}` },
];

export default function NodeDetailPage() {
  const { id = '' } = useParams();
  const node = useNode(id);
  const vms = useNodeVMs(id, node.isSuccess);
  const status = useLiveEvents();
  const n = node.data;
  const [tab, setTab] = useState<string>('overview');

  return (
    <>
      <PageSection>
        <Breadcrumb>
          <BreadcrumbItem render={() => <Link to="/nodes">Nodes</Link>} />
          <BreadcrumbItem isActive>{n?.name ?? id}</BreadcrumbItem>
        </Breadcrumb>
        <Flex justifyContent={{ default: 'justifyContentSpaceBetween' }} alignItems={{ default: 'alignItemsCenter' }}>
          <Flex alignItems={{ default: 'alignItemsCenter' }}>
            <Title headingLevel="h1">Node {n?.name ?? id}</Title>
            {n && <StateLabel state={n.state} />}
          </Flex>
          <LiveStatus status={status} />
        </Flex>
      </PageSection>
      <PageSection>
        {node.isError && (
          <Alert
            variant="danger"
            isInline
            title={isApiError(node.error) && node.error.status === 404 ? `There is no node ${id}` : `The node cannot be read: ${node.error.message}`}
          >
            <Link to="/nodes">Back to the nodes</Link>
          </Alert>
        )}
        {node.isPending && <Skeleton screenreaderText="Loading the node" />}
        {n && (
          <Tabs activeKey={tab} onSelect={(_e, k) => { setTab(String(k)); }} aria-label="Node details" mountOnEnter>
          <Tab eventKey="overview" title={<TabTitleText>Overview</TabTitleText>}>
          <Grid hasGutter style={{ paddingTop: 16 }}>
            <GridItem lg={6}>
              <Card>
                <CardTitle>
                  <Title headingLevel="h2">Node</Title>
                </CardTitle>
                <CardBody>
                  <DescriptionList isHorizontal>
                    <Item term="ID">{n.id}</Item>
                    <Item term="State">
                      <StateLabel state={n.state} isCompact /> {n.connected ? 'agent connected' : 'agent not connected'}
                    </Item>
                    <Item term="Address">{n.address || '—'}</Item>
                    <Item term="Claimed address">
                      {n.claimed_address || '—'}
                      {n.claimed_address && n.address && !n.address.startsWith(n.claimed_address) ? ' (differs: NAT?)' : ''}
                    </Item>
                    <Item term="Last heartbeat">
                      <Time iso={n.last_heartbeat} /> ({ago(n.last_heartbeat)})
                    </Item>
                    <Item term="Joined">
                      <Time iso={n.created_at} />
                    </Item>
                  </DescriptionList>
                </CardBody>
              </Card>
            </GridItem>
            <GridItem lg={6}>
              <Card>
                <CardTitle>
                  <Title headingLevel="h2">Host and backend</Title>
                </CardTitle>
                <CardBody>
                  <DescriptionList isHorizontal>
                    <Item term="Hostname">{n.host.hostname || '—'}</Item>
                    <Item term="CPUs">{n.host.cpus || '—'}</Item>
                    <Item term="Memory">{formatMiB(n.host.memory_mib)}</Item>
                    <Item term="Architecture">{n.host.arch || '—'}</Item>
                    <Item term="Hypervisor">
                      {[n.host.hypervisor, n.host.hypervisor_version].filter(Boolean).join(' ') || '—'}
                    </Item>
                    <Item term="KVM">{n.host.kvm_usable ? 'usable' : 'not usable'}</Item>
                    <Item term="Backend">
                      <BackendHealth node={n} />
                    </Item>
                    {n.backend.error && <Item term="Backend error">{n.backend.error}</Item>}
                  </DescriptionList>
                </CardBody>
              </Card>
            </GridItem>
            <GridItem md={12}>
              <Card>
                <CardTitle>
                  <Flex justifyContent={{ default: 'justifyContentSpaceBetween' }}>
                    <Title headingLevel="h2">VMs on this node {vms.data ? `(${String(vms.data.length)})` : ''}</Title>
                    <Flex>
                      <Link to={`/events?node=${encodeURIComponent(n.id)}`}>Events of this node</Link>
                      <Link to={`/logs?node_id=${encodeURIComponent(n.id)}`}>Logs of this node</Link>
                    </Flex>
                  </Flex>
                </CardTitle>
                <CardBody>
                  {vms.isError && <Alert variant="danger" isInline title={`The VMs cannot be read: ${vms.error.message}`} />}
                  {vms.isPending && <Skeleton screenreaderText="Loading the VMs" />}
                  {vms.data && vms.data.length === 0 && <p>No VMs on this node.</p>}
                  {vms.data && vms.data.length > 0 && (
                    <DataTable label="VMs on this node" variant="compact" columns={vmColumns} rows={vms.data} rowKey={(v) => v.id} />
                  )}
                </CardBody>
              </Card>
            </GridItem>
          </Grid>
          </Tab>
          <Tab eventKey="monitoring" title={<TabTitleText>Monitoring</TabTitleText>}>
            <div style={{ paddingTop: 16 }}>
              <MonitoringPanel kind="nodes" id={n.id} />
            </div>
          </Tab>
          <Tab eventKey="events" title={<TabTitleText>Events</TabTitleText>}>
            <NodeEventsTab nodeId={n.id} />
          </Tab>
          </Tabs>
        )}
      </PageSection>
    </>
  );
}
