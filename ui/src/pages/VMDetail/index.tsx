import {
  Alert,
  Breadcrumb,
  BreadcrumbItem,
  Content,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Divider,
  Dropdown,
  DropdownItem,
  DropdownList,
  EmptyState,
  EmptyStateBody,
  Flex,
  FlexItem,
  Label,
  LabelGroup,
  MenuToggle,
  PageSection,
  Spinner,
  Tab,
  TabTitleText,
  Tabs,
  Title,
  Tooltip,
} from '@patternfly/react-core';
import { useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useState, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useEventStream } from '../../api/sse';
import { useActionLogger } from '../../logging';
import { StateLabel } from '../../components/StateLabel';
import { ActionConfirm, type ActionOptions } from '../VMs/ActionConfirm';
import { whyNot, type VMActionName } from '../VMs/actions';
import { applyVMEvent, vmKeys, useVM, type VM, type VMStreamEvent } from '../VMs/api';
import { errorStatus, errorText } from '../VMs/errors';
import { formatMemory, formatTime } from '../VMs/format';
import { useOperate } from '../VMs/role';
import { Toasts, useToasts } from '../VMs/toasts';
import { useNodeNames } from '../VMs/useNodeNames';
import { actionTitles, useVMAction } from '../VMs/useVMAction';
import { VMEventsTab } from './VMEventsTab';
import { VMLogsPanel } from './VMLogsPanel';

// The console (with xterm.js) is loaded when its tab first opens.
const ConsolePanel = lazy(() => import('./console/ConsolePanel'));

type TabKey = 'overview' | 'logs' | 'events' | 'console';

function Item({ term, children }: { term: string; children: ReactNode }) {
  return (
    <DescriptionListGroup>
      <DescriptionListTerm>{term}</DescriptionListTerm>
      <DescriptionListDescription>{children}</DescriptionListDescription>
    </DescriptionListGroup>
  );
}

function Overview({ vm, nodeName }: { vm: VM; nodeName: string }) {
  const disks = vm.spec.disks ?? [];
  const nics = vm.spec.nics ?? [];
  const labels = Object.entries(vm.labels ?? {});
  return (
    <>
      {vm.message && (
        <Alert variant="warning" isInline title="Last message">
          {vm.message}
        </Alert>
      )}
      {vm.state === 'LOST' && (
        <Alert variant="danger" isInline title={`Lost since ${formatTime(vm.lost_at)}`}>
          {vm.lost_reason || 'The VM vanished from its node.'}
        </Alert>
      )}
      <DescriptionList isHorizontal columnModifier={{ default: '1Col', lg: '2Col' }} aria-label="VM overview">
        <Item term="State">
          <StateLabel state={vm.state} />
          {vm.last_known_state && vm.last_known_state !== vm.state && ` (last known ${vm.last_known_state})`}
        </Item>
        <Item term="Desired state">{vm.desired_state || '—'}</Item>
        <Item term="Origin">
          {vm.origin}
          {!vm.is_managed && (
            <>
              {' '}
              <Label isCompact color="orange">
                not managed
              </Label>
            </>
          )}
        </Item>
        <Item term="Node">
          {vm.node_id ? <Link to={`/nodes/${encodeURIComponent(vm.node_id)}`}>{nodeName}</Link> : '—'}
        </Item>
        <Item term="Last seen">{formatTime(vm.last_seen)}</Item>
        <Item term="Lost reason">{vm.lost_reason || '—'}</Item>
        <Item term="Lost at">{formatTime(vm.lost_at)}</Item>
        <Item term="Restart policy">{vm.restart_policy || '—'}</Item>
        <Item term="vCPUs">{vm.spec.vcpus}</Item>
        <Item term="Memory">{formatMemory(vm.spec.memory_mib)}</Item>
        <Item term="Disks">
          {disks.length === 0
            ? 'none'
            : disks.map((d, i) => (
                <div key={i}>
                  {d.name || `disk ${i + 1}`}: {d.size_gib} GiB {d.bus}
                  {d.base_image ? ` on ${d.base_image}` : ''}
                  {d.path ? ` (${d.path})` : ''}
                </div>
              ))}
        </Item>
        <Item term="Network interfaces">
          {nics.length === 0
            ? 'none'
            : nics.map((n, i) => (
                <div key={i}>
                  {n.type}
                  {n.source ? ` ${n.source}` : ''} {n.model}
                  {n.mac ? ` ${n.mac}` : ''}
                </div>
              ))}
        </Item>
        <Item term="Boot order">{(vm.spec.boot ?? []).join(', ') || '—'}</Item>
        {vm.spec.kernel ? (
          <Item term="Direct kernel boot">
            <div>kernel {vm.spec.kernel}</div>
            {vm.spec.initrd ? <div>initrd {vm.spec.initrd}</div> : null}
            {vm.spec.cmdline ? <div>command line {vm.spec.cmdline}</div> : null}
          </Item>
        ) : null}
        <Item term="Labels">
          {labels.length === 0 ? (
            'none'
          ) : (
            <LabelGroup>
              {labels.map(([k, v]) => (
                <Label key={k} isCompact>
                  {k}={v}
                </Label>
              ))}
            </LabelGroup>
          )}
        </Item>
        <Item term="Description">{vm.description || '—'}</Item>
        <Item term="ID">{vm.id}</Item>
        <Item term="Created">{formatTime(vm.created_at)}</Item>
        <Item term="Updated">{formatTime(vm.updated_at)}</Item>
      </DescriptionList>
    </>
  );
}

interface Pending {
  action: VMActionName;
  force: boolean;
}

const menuActions: VMActionName[] = ['start', 'stop', 'reboot', 'pause', 'resume'];

/** The VM detail page: Overview, Logs, Events and Console tabs, and the actions menu. */
export function VMDetailPage() {
  const { id = '' } = useParams();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const vm = useVM(id);
  const nodeNames = useNodeNames();
  const denied = useOperate('change VMs');
  const [tab, setTab] = useState<TabKey>('overview');
  const [menuOpen, setMenuOpen] = useState(false);
  const [pending, setPending] = useState<Pending | null>(null);
  const { toasts, add: toast, remove: removeToast } = useToasts();
  const act = useVMAction();
  const log = useActionLogger('vm');

  useEventStream<VMStreamEvent>('/api/events', undefined, (msg) => {
    if (msg.type === 'vm') applyVMEvent(qc, msg.data);
    // Events were dropped for this page: read the VMs again.
    else if (msg.type === 'gap') void qc.invalidateQueries({ queryKey: vmKeys.all });
  }, { resumeParam: 'since' });

  if (vm.isLoading) return <Spinner aria-label="Loading the VM" />;
  if (vm.isError || !vm.data) {
    return (
      <PageSection>
        <EmptyState
          titleText={errorStatus(vm.error) === 404 ? 'No such VM' : 'The VM could not be read'}
          headingLevel="h1"
          status="danger"
        >
          <EmptyStateBody>{errorText(vm.error)}</EmptyStateBody>
          <Link to="/vms">Back to the VMs</Link>
        </EmptyState>
      </PageSection>
    );
  }
  const v = vm.data;

  const run = (action: VMActionName, opts: ActionOptions = { force: false }) => {
    act.mutate(
      { vm: v, action, ...opts },
      {
        onSuccess: (r) => {
          log.logSuccess(`${action} ${v.name}`, { vmId: v.id });
          toast({ variant: 'success', title: `${actionTitles[action]} ${v.name}`, body: r.message });
          if (action === 'delete' || (action === 'reset_state' && !r.vm)) navigate('/vms');
        },
        onError: (err) => {
          log.logError(`${action} ${v.name}`, err, { vmId: v.id });
          toast({ variant: 'danger', title: `${actionTitles[action]} ${v.name} failed`, body: errorText(err) });
        },
        onSettled: () => setPending(null),
      },
    );
  };

  const choose = (action: VMActionName, force = false) => {
    setMenuOpen(false);
    log.logClick(force ? 'Force Reset State' : actionTitles[action], { vmId: v.id });
    if (action === 'stop' || action === 'delete' || action === 'reset_state') setPending({ action, force });
    else run(action);
  };

  const item = (key: string, label: string, why: string, onClick: () => void, isDanger = false) => (
    <DropdownItem
      key={key}
      isAriaDisabled={!!why}
      tooltipProps={why ? { content: why } : undefined}
      description={why || undefined}
      isDanger={isDanger}
      onClick={onClick}
    >
      {label}
    </DropdownItem>
  );

  const items = [
    ...(v.origin === 'host-discovered'
      ? [item('adopt', 'Adopt', denied || whyNot(v, 'adopt'), () => choose('adopt'))]
      : []),
    ...menuActions.map((a) => item(a, actionTitles[a], denied || whyNot(v, a), () => choose(a))),
    <Divider component="li" key="d1" />,
    item('reset', 'Reset State', denied || whyNot(v, 'reset_state'), () => choose('reset_state')),
    item('force-reset', 'Force Reset State', denied || whyNot(v, 'reset_state'), () => choose('reset_state', true)),
    <Divider component="li" key="d2" />,
    item('delete', 'Delete', denied || whyNot(v, 'delete', true), () => choose('delete'), true),
  ];

  const toggle = (
    <Dropdown
      isOpen={menuOpen}
      onOpenChange={setMenuOpen}
      popperProps={{ position: 'right' }}
      toggle={(ref) => (
        <MenuToggle ref={ref} onClick={() => setMenuOpen((o) => !o)} isExpanded={menuOpen} variant="secondary">
          Actions
        </MenuToggle>
      )}
    >
      <DropdownList>{items}</DropdownList>
    </Dropdown>
  );

  return (
    <>
      <PageSection>
        <Breadcrumb>
          <BreadcrumbItem render={({ className }) => <Link className={className} to="/vms">VMs</Link>} />
          <BreadcrumbItem isActive>{v.name}</BreadcrumbItem>
        </Breadcrumb>
        <Flex alignItems={{ default: 'alignItemsCenter' }} justifyContent={{ default: 'justifyContentSpaceBetween' }}>
          <Flex alignItems={{ default: 'alignItemsCenter' }}>
            <FlexItem>
              <Title headingLevel="h1">{v.name}</Title>
            </FlexItem>
            <FlexItem>
              <StateLabel state={v.state} />
            </FlexItem>
          </Flex>
          <FlexItem>
            {denied ? (
              <Tooltip content={denied}>
                <span>{toggle}</span>
              </Tooltip>
            ) : (
              toggle
            )}
          </FlexItem>
        </Flex>
        {v.description && <Content component="p">{v.description}</Content>}
      </PageSection>
      <PageSection>
        <Tabs activeKey={tab} onSelect={(_e, k) => {
            log.logTabSwitch(String(k), { vmId: v.id });
            setTab(k as TabKey);
          }} aria-label="VM details" mountOnEnter>
          <Tab eventKey="overview" title={<TabTitleText>Overview</TabTitleText>}>
            <PageSection padding={{ default: 'noPadding' }} style={{ paddingTop: 16 }}>
              <Overview vm={v} nodeName={nodeNames.get(v.node_id) ?? v.node_id} />
            </PageSection>
          </Tab>
          <Tab eventKey="logs" title={<TabTitleText>Logs</TabTitleText>}>
            <VMLogsPanel vmId={v.id} vmName={v.name} />
          </Tab>
          <Tab eventKey="events" title={<TabTitleText>Events</TabTitleText>}>
            <VMEventsTab vmId={v.id} />
          </Tab>
          <Tab eventKey="console" title={<TabTitleText>Console</TabTitleText>}>
            <Suspense fallback={<Spinner aria-label="Loading the console" />}>
              <ConsolePanel vm={v} />
            </Suspense>
          </Tab>
        </Tabs>
      </PageSection>
      {pending && (
        <ActionConfirm
          action={pending.action}
          force={pending.force}
          targets={[{ id: v.id, name: v.name }]}
          isBusy={act.isPending}
          onConfirm={(o) => run(pending.action, o)}
          onClose={() => setPending(null)}
        />
      )}
      <Toasts toasts={toasts} remove={removeToast} />
    </>
  );
}

export default VMDetailPage;
