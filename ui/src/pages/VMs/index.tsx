import {
  Checkbox,
  Divider,
  Dropdown,
  DropdownItem,
  DropdownList,
  EmptyState,
  EmptyStateBody,
  EmptyStateFooter,
  FormSelect,
  FormSelectOption,
  Label,
  LabelGroup,
  MenuToggle,
  type MenuToggleElement,
  PageSection,
  Pagination,
  SearchInput,
  Spinner,
  TextInput,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarGroup,
  ToolbarItem,
  Tooltip,
} from '@patternfly/react-core';
import EllipsisVIcon from '@patternfly/react-icons/dist/esm/icons/ellipsis-v-icon';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { useQueryClient } from '@tanstack/react-query';
import { memo, useCallback, useEffect, useRef, useState, type KeyboardEvent, type ReactElement, type Ref } from 'react';
import { Link, useNavigate } from 'react-router';
import { useEventStream } from '../../api/sse';
import { useActionLogger } from '../../logging';
import { StateLabel, StaticLabel } from '../../components/StateLabel';
import { ActionButton } from './ActionButton';
import { ActionConfirm, type ActionOptions } from './ActionConfirm';
import { whyNot, type VMActionName } from './actions';
import { applyVMEvent, firstPageSize, vmKeys, useVMList, vmOrigins, vmStates, type VM, type VMFilters, type VMStreamEvent } from './api';
import { BulkResults } from './BulkResults';
import { runBulk, type BulkAction, type BulkResult, type BulkTarget } from './bulk';
import { CreateVMModal } from './CreateVMModal';
import { errorText } from './errors';
import { formatAge, formatMemory } from './format';
import { useOperate } from './role';
import { Toasts, useToasts } from './toasts';
import { useNodeNames, useNodes } from './useNodeNames';
import { useRowsShown } from './useRowsShown';
import { actionTitles, callAction, storeVM, useVMAction } from './useVMAction';

const perPageOptions = [20, 50, 100, 200, 500].map((n) => ({ title: String(n), value: n }));
const rowActions: VMActionName[] = ['start', 'stop', 'reboot', 'pause', 'resume', 'delete'];
/** How long typing pauses before the search goes to the server. */
export const searchDebounceMs = 300;

interface Pending {
  action: VMActionName;
  targets: BulkTarget[];
  bulk: boolean;
}

/** The VMs page: the inventory, filtered and paged by the server, with live states and actions. */
export function VMsPage() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const { toasts, add: toast, remove: removeToast } = useToasts();
  const denied = useOperate('change VMs');
  const log = useActionLogger('vm');

  // Filters and paging. The API pages with a cursor: cursors[i] opens page i+1.
  const [filters, setFilters] = useState<VMFilters>({});
  const [labelDraft, setLabelDraft] = useState('');
  const [search, setSearch] = useState('');
  const [perPage, setPerPage] = useState(firstPageSize);
  const [cursors, setCursors] = useState<string[]>(['']);
  const page = cursors.length;
  const list = useVMList(filters, perPage, cursors[page - 1]);
  const nodeNames = useNodeNames();
  const nodes = useNodes();

  const resetPaging = () => setCursors(['']);
  const setFilter = (patch: Partial<VMFilters>) => {
    for (const [k, val] of Object.entries(patch)) log.logFilterChange(k, val);
    setFilters((f) => ({ ...f, ...patch }));
    resetPaging();
  };

  // Live states: the event stream updates the cache; nothing is polled.
  useEventStream<VMStreamEvent>('/api/events', undefined, (msg) => {
    if (msg.type === 'vm') applyVMEvent(qc, msg.data);
    // Events were dropped for this page: read the VMs again.
    else if (msg.type === 'gap') void qc.invalidateQueries({ queryKey: vmKeys.all });
  }, { resumeParam: 'since' });

  // Search: the server matches names and ids over every page; typing is
  // sent once it pauses.
  const searchTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const searched = useRef('');
  useEffect(() => () => clearTimeout(searchTimer.current), []);
  const searchFor = (text: string, delay: number) => {
    setSearch(text);
    clearTimeout(searchTimer.current);
    searchTimer.current = setTimeout(() => {
      const q = text.trim();
      if (q === searched.current) return;
      searched.current = q;
      log.logFilterChange('search', q);
      setFilters((f) => ({ ...f, q: q || undefined }));
      resetPaging();
    }, delay);
  };
  const shown = list.data?.vms ?? [];
  // The rows that fill the window first, the rest of the page right after.
  const rendered = useRowsShown(shown.length);

  // Selection, kept across pages by id.
  const [selected, setSelected] = useState<Map<string, BulkTarget>>(new Map());
  const toggle = useCallback((vm: VM, on: boolean) => {
    setSelected((s) => {
      const n = new Map(s);
      if (on) n.set(vm.id, { id: vm.id, name: vm.name });
      else n.delete(vm.id);
      return n;
    });
  }, []);
  const allOnPage = shown.length > 0 && shown.every((v) => selected.has(v.id));
  const selectPage = (on: boolean) =>
    setSelected((s) => {
      const n = new Map(s);
      for (const v of shown) {
        if (on) n.set(v.id, { id: v.id, name: v.name });
        else n.delete(v.id);
      }
      return n;
    });

  // Actions.
  const act = useVMAction();
  const [pending, setPending] = useState<Pending | null>(null);
  const [bulkBusy, setBulkBusy] = useState(false);
  const [bulkResults, setBulkResults] = useState<{ action: BulkAction; results: BulkResult[] } | null>(null);
  const [createOpen, setCreateOpen] = useState(false);

  const mutate = act.mutate;
  const { logClick, logSuccess, logError } = log;
  const runOne = useCallback(
    (vm: BulkTarget, action: VMActionName, opts: ActionOptions = { force: false }) => {
      mutate(
        { vm, action, ...opts },
        {
          onSuccess: (r) => {
            logSuccess(`${action} ${vm.name}`, { vmId: vm.id });
            toast({ variant: 'success', title: `${actionTitles[action]} ${vm.name}`, body: r.message });
          },
          onError: (err) => {
            logError(`${action} ${vm.name}`, err, { vmId: vm.id });
            toast({ variant: 'danger', title: `${actionTitles[action]} ${vm.name} failed`, body: errorText(err) });
          },
          onSettled: () => setPending(null),
        },
      );
    },
    [mutate, toast, logSuccess, logError],
  );

  const onRowAction = useCallback(
    (vm: VM, action: VMActionName) => {
      logClick(`${actionTitles[action]} ${vm.name}`, { vmId: vm.id });
      const target = { id: vm.id, name: vm.name };
      if (action === 'stop' || action === 'delete') setPending({ action, targets: [target], bulk: false });
      else runOne(target, action);
    },
    [runOne, logClick],
  );

  const confirm = async (opts: ActionOptions) => {
    if (!pending) return;
    if (!pending.bulk) {
      runOne(pending.targets[0], pending.action, opts);
      return;
    }
    setBulkBusy(true);
    const action = pending.action as BulkAction;
    const results = await runBulk(pending.targets, async (t) => {
      const r = await callAction({ vm: t, action, ...opts });
      storeVM(qc, r.vm);
      return r.message;
    });
    setBulkBusy(false);
    setPending(null);
    setBulkResults({ action, results });
    for (const r of results) {
      if (r.ok) logSuccess(`${action} ${r.name}`, { vmId: r.id });
      else logError(`${action} ${r.name}`, r.message, { vmId: r.id });
    }
    setSelected(new Map(results.filter((r) => !r.ok).map((r) => [r.id, { id: r.id, name: r.name }])));
    if (action === 'delete') void qc.invalidateQueries({ queryKey: ['vms', 'list'] });
  };

  const bulk = (action: BulkAction) => setPending({ action, targets: [...selected.values()], bulk: true });

  const addLabel = () => {
    const l = labelDraft.trim();
    if (!/^[^=\s]+=.*$/.test(l)) return;
    setFilter({ labels: [...(filters.labels ?? []).filter((x) => x !== l), l] });
    setLabelDraft('');
  };

  const nextCursor = list.data?.next_cursor ?? '';
  const itemCount = list.data && !nextCursor ? (page - 1) * perPage + (list.data.vms?.length ?? 0) : undefined;
  const hasFilters = !!(filters.state || filters.node_id || filters.origin || filters.labels?.length || search);

  const gate = (label: string, node: ReactElement) =>
    denied ? (
      <Tooltip content={denied}>
        <span tabIndex={0} aria-label={`${label}: ${denied}`}>
          {node}
        </span>
      </Tooltip>
    ) : (
      node
    );

  const pagination = (variant: 'top' | 'bottom') => (
    <Pagination
      variant={variant}
      isCompact={variant === 'top'}
      perPage={perPage}
      page={page}
      itemCount={itemCount}
      perPageOptions={perPageOptions}
      widgetId={`vms-pagination-${variant}`}
      titles={{ paginationAriaLabel: `VM pages (${variant})` }}
      onNextClick={() => nextCursor && setCursors((c) => [...c, nextCursor])}
      onPreviousClick={() => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c))}
      onFirstClick={resetPaging}
      onSetPage={(_e, p) => {
        if (p < page) setCursors((c) => c.slice(0, Math.max(1, p)));
      }}
      onPerPageSelect={(_e, n) => {
        setPerPage(n);
        resetPaging();
      }}
      isDisabled={list.isLoading}
    />
  );

  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Virtual machines</Title>
      </PageSection>
      <PageSection>
        <Toolbar id="vms-toolbar" clearAllFilters={() => { clearTimeout(searchTimer.current); searched.current = ''; setFilters({}); setSearch(''); resetPaging(); }}>
          <ToolbarContent>
            <ToolbarGroup variant="filter-group">
              <ToolbarItem>
                <SearchInput
                  aria-label="Search VMs by name or id"
                  placeholder="Search by name or id"
                  value={search}
                  onChange={(_e, v) => searchFor(v, searchDebounceMs)}
                  onSearch={(_e, v) => searchFor(v, 0)}
                  onClear={() => searchFor('', 0)}
                />
              </ToolbarItem>
              <ToolbarItem>
                <FormSelect
                  aria-label="Filter by state"
                  value={filters.state ?? ''}
                  onChange={(_e, v) => setFilter({ state: v || undefined })}
                >
                  <FormSelectOption value="" label="All states" />
                  {vmStates.map((s) => (
                    <FormSelectOption key={s} value={s} label={s} />
                  ))}
                </FormSelect>
              </ToolbarItem>
              <ToolbarItem>
                <FormSelect
                  aria-label="Filter by node"
                  value={filters.node_id ?? ''}
                  onChange={(_e, v) => setFilter({ node_id: v || undefined })}
                >
                  <FormSelectOption value="" label="All nodes" />
                  {(nodes.data?.nodes ?? []).map((n) => (
                    <FormSelectOption key={n.id} value={n.id} label={n.name} />
                  ))}
                </FormSelect>
              </ToolbarItem>
              <ToolbarItem>
                <FormSelect
                  aria-label="Filter by origin"
                  value={filters.origin ?? ''}
                  onChange={(_e, v) => setFilter({ origin: v || undefined })}
                >
                  <FormSelectOption value="" label="All origins" />
                  {vmOrigins.map((o) => (
                    <FormSelectOption key={o} value={o} label={o} />
                  ))}
                </FormSelect>
              </ToolbarItem>
              <ToolbarItem>
                <TextInput
                  aria-label="Filter by label (key=value, Enter to add)"
                  placeholder="label key=value"
                  value={labelDraft}
                  onChange={(_e, v) => setLabelDraft(v)}
                  onKeyDown={(e: KeyboardEvent) => {
                    if (e.key === 'Enter') {
                      e.preventDefault();
                      addLabel();
                    }
                  }}
                />
              </ToolbarItem>
            </ToolbarGroup>
            <ToolbarGroup variant="action-group">
              <ToolbarItem>
                {gate(
                  'Create VM',
                  <ActionButton variant="primary" isDisabled={!!denied} onClick={() => setCreateOpen(true)}>
                    Create VM
                  </ActionButton>,
                )}
              </ToolbarItem>
              {(['start', 'stop', 'delete'] as BulkAction[]).map((a) => (
                <ToolbarItem key={a}>
                  {gate(
                    `${actionTitles[a]} selected`,
                    <ActionButton
                      variant={a === 'delete' ? 'danger' : 'secondary'}
                      isDisabled={!!denied || selected.size === 0}
                      onClick={() => bulk(a)}
                    >
                      {actionTitles[a]} selected
                    </ActionButton>,
                  )}
                </ToolbarItem>
              ))}
              {selected.size > 0 && (
                <ToolbarItem>
                  <ActionButton variant="link" onClick={() => setSelected(new Map())}>
                    Clear selection ({selected.size})
                  </ActionButton>
                </ToolbarItem>
              )}
            </ToolbarGroup>
            <ToolbarItem variant="pagination">{pagination('top')}</ToolbarItem>
          </ToolbarContent>
          {filters.labels && filters.labels.length > 0 && (
            <ToolbarContent>
              <ToolbarItem>
                <LabelGroup categoryName="Labels" numLabels={8}>
                  {filters.labels.map((l) => (
                    <Label
                      key={l}
                      variant="outline"
                      onClose={() => setFilter({ labels: filters.labels?.filter((x) => x !== l) })}
                      closeBtnAriaLabel={`Remove label filter ${l}`}
                    >
                      {l}
                    </Label>
                  ))}
                </LabelGroup>
              </ToolbarItem>
            </ToolbarContent>
          )}
        </Toolbar>

        {list.isError ? (
          <EmptyState titleText="The VMs could not be listed" headingLevel="h2" status="danger">
            <EmptyStateBody>{errorText(list.error)}</EmptyStateBody>
            <EmptyStateFooter>
              <ActionButton variant="link" onClick={() => void list.refetch()}>
                Try again
              </ActionButton>
            </EmptyStateFooter>
          </EmptyState>
        ) : list.isLoading ? (
          <Spinner aria-label="Loading VMs" />
        ) : (
          <Table aria-label="Virtual machines" variant="compact" isStickyHeader>
            <Thead>
              <Tr>
                <Th className="pf-v6-c-table__check" aria-label="Selection">
                  <Checkbox
                    id="vms-select-page"
                    aria-label="Select all VMs on this page"
                    isChecked={allOnPage}
                    onChange={(_e, on) => selectPage(on)}
                  />
                </Th>
                <Th>Name</Th>
                <Th>State</Th>
                <Th>Node</Th>
                <Th>vCPUs</Th>
                <Th>Memory</Th>
                <Th>Origin</Th>
                <Th>Age</Th>
                <Th screenReaderText="Actions" />
              </Tr>
            </Thead>
            <Tbody>
              {shown.length === 0 ? (
                <Tr>
                  <Td colSpan={9}>
                    <EmptyState titleText="No VMs" headingLevel="h2">
                      <EmptyStateBody>
                        {hasFilters ? 'No VM matches these filters.' : 'There is no VM yet: create one.'}
                      </EmptyStateBody>
                    </EmptyState>
                  </Td>
                </Tr>
              ) : (
                shown.slice(0, rendered).map((vm, i) => (
                  <VMRow
                    key={vm.id}
                    vm={vm}
                    index={i}
                    nodeName={nodeNames.get(vm.node_id) ?? vm.node_id}
                    isSelected={selected.has(vm.id)}
                    denied={denied}
                    onSelect={toggle}
                    onAction={onRowAction}
                  />
                ))
              )}
            </Tbody>
          </Table>
        )}
        {pagination('bottom')}
      </PageSection>

      <CreateVMModal
        isOpen={createOpen}
        onClose={() => setCreateOpen(false)}
        onCreated={(vm) => {
          setCreateOpen(false);
          toast({ variant: 'success', title: `VM ${vm.name} created`, body: 'It is STOPPED: start it when ready.' });
          navigate(`/vms/${encodeURIComponent(vm.id)}`);
        }}
      />
      {pending && (
        <ActionConfirm
          action={pending.action}
          targets={pending.targets}
          isBusy={bulkBusy || act.isPending}
          onConfirm={(o) => void confirm(o)}
          onClose={() => setPending(null)}
        />
      )}
      {bulkResults && (
        <BulkResults action={bulkResults.action} results={bulkResults.results} onClose={() => setBulkResults(null)} />
      )}
      <Toasts toasts={toasts} remove={removeToast} />
    </>
  );
}

interface VMRowProps {
  vm: VM;
  index: number;
  nodeName: string;
  isSelected: boolean;
  denied: string;
  onSelect: (vm: VM, on: boolean) => void;
  onAction: (vm: VM, action: VMActionName) => void;
}

/** One entry of a row's actions menu; undefined is a separator. */
interface RowAction {
  action: VMActionName;
  title: string;
  /** Why the action cannot be taken ('' when it can), else what it does. */
  description?: string;
  isDisabled: boolean;
  isDanger?: boolean;
}

/** rowMenu lists the actions a row's menu offers for vm, and why each is disabled. */
function rowMenu(vm: VM, denied: string): (RowAction | undefined)[] {
  const items: (RowAction | undefined)[] = [];
  if (vm.origin === 'host-discovered') {
    const why = denied || whyNot(vm, 'adopt');
    items.push({ action: 'adopt', title: 'Adopt', description: why || 'Manage this VM with Quantix', isDisabled: !!why });
  }
  for (const a of rowActions) {
    // A delete is offered in any state it can be forced in; its dialog offers force.
    const why = denied || whyNot(vm, a, a === 'delete');
    if (a === 'delete') items.push(undefined);
    items.push({ action: a, title: actionTitles[a], description: why || undefined, isDisabled: !!why, isDanger: a === 'delete' });
  }
  return items;
}

/**
 * RowActions is a row's kebab: the toggle alone until it is first opened,
 * then PatternFly's Dropdown (as the table's ActionsColumn draws it). A
 * Dropdown mounted per row, closed, costs a Popper each, which reads the
 * computed style while rendering: a hundred of them forced as many style
 * recalculations on the page's first render.
 */
function RowActions({ vm, denied, onAction }: { vm: VM; denied: string; onAction: (vm: VM, action: VMActionName) => void }) {
  const [isOpen, setOpen] = useState(false);
  const [mounted, setMounted] = useState(false);
  const toggle = (ref?: Ref<MenuToggleElement>) => (
    <MenuToggle
      ref={ref}
      variant="plain"
      onClick={() => {
        if (mounted) {
          setOpen((o) => !o);
          return;
        }
        // The first click mounts the Dropdown (a new toggle element); it
        // opens once that click is over, or the Dropdown's document click
        // listener would take it for a click outside and close at once.
        setMounted(true);
        setTimeout(() => setOpen(true), 0);
      }}
      isExpanded={isOpen}
      aria-label={`Actions for ${vm.name}`}
      icon={<EllipsisVIcon />}
    />
  );
  if (!mounted) return toggle();
  return (
    <Dropdown isOpen={isOpen} onOpenChange={setOpen} toggle={toggle} popperProps={{ position: 'end', direction: 'down' }}>
      <DropdownList>
        {rowMenu(vm, denied).map((item, i) =>
          item ? (
            <DropdownItem
              key={item.action}
              description={item.description}
              isAriaDisabled={item.isDisabled}
              isDanger={item.isDanger}
              onClick={() => {
                setOpen(false);
                onAction(vm, item.action);
              }}
            >
              {item.title}
            </DropdownItem>
          ) : (
            <Divider key={`separator-${i}`} />
          ),
        )}
      </DropdownList>
    </Dropdown>
  );
}

/** VMRow is one row; memoised so a live state change renders only its own row. */
const VMRow = memo(function VMRow({ vm, index, nodeName, isSelected, denied, onSelect, onAction }: VMRowProps) {
  return (
    <Tr isRowSelected={isSelected}>
      <Td className="pf-v6-c-table__check">
        <Checkbox
          id={`vms-select-${index}`}
          aria-label={`Select ${vm.name}`}
          isChecked={isSelected}
          onChange={(_e, on) => onSelect(vm, on)}
        />
      </Td>
      <Td dataLabel="Name">
        <Link to={`/vms/${encodeURIComponent(vm.id)}`}>{vm.name}</Link>
      </Td>
      <Td dataLabel="State">
        <StateLabel state={vm.state} isCompact />
      </Td>
      <Td dataLabel="Node">
        {vm.node_id ? <Link to={`/nodes/${encodeURIComponent(vm.node_id)}`}>{nodeName}</Link> : '—'}
      </Td>
      <Td dataLabel="vCPUs">{vm.spec.vcpus}</Td>
      <Td dataLabel="Memory">{formatMemory(vm.spec.memory_mib)}</Td>
      <Td dataLabel="Origin">
        {vm.origin}
        {!vm.is_managed && (
          <>
            {' '}
            <StaticLabel isCompact color="orange">
              not managed
            </StaticLabel>
          </>
        )}
      </Td>
      <Td dataLabel="Age">{formatAge(vm.created_at)}</Td>
      <Td isActionCell>
        <RowActions vm={vm} denied={denied} onAction={onAction} />
      </Td>
    </Tr>
  );
});

export default VMsPage;
