import { useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import {
  ActionGroup,
  Alert,
  AlertActionCloseButton,
  Badge,
  Button,
  Card,
  CardBody,
  ExpandableSection,
  Flex,
  FlexItem,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Grid,
  GridItem,
  MenuToggle,
  PageSection,
  SearchInput,
  Select,
  SelectList,
  SelectOption,
  Skeleton,
  Switch,
  TextInput,
  Title,
  ToggleGroup,
  ToggleGroupItem,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import DownloadIcon from '@patternfly/react-icons/dist/esm/icons/download-icon';
import SyncAltIcon from '@patternfly/react-icons/dist/esm/icons/sync-alt-icon';
import { useEventStream } from '../../api/sse';
import type { GapEvent, LogEntry } from '../../api/types';
import { LogComponentBadge } from '../../components/LogComponentBadge';
import { legendFor } from '../../components/logComponents';
import { LiveStatus } from '../../components/LiveStatus';
import { LoggedButton, useActionLogger } from '../../logging';
import { CorrelationModal } from './CorrelationModal';
import { LogTable } from './LogRows';
import {
  EXPORT_FORMATS,
  LOG_LEVELS,
  activeFilterCount,
  emptyFilters,
  exportFileName,
  exportUrl,
  filtersError,
  filtersFromQuery,
  filtersToParams,
  filtersToQuery,
  timeBoundError,
  type LogFilters,
  type LogLevel,
} from './filters';
import { useLogComponents, useLogPages, useLogSources } from './queries';
import { TIME_PRESETS, timeChoice } from './timeRange';
import './logs.css';

/** How many live entries the page keeps above the pages read. */
const liveKeep = 1000;
const defaultSources = ['ui', 'audit', 'system', 'qemu'];

/** The text fields of the filters, edited as a draft and applied together. */
interface Draft {
  vmId: string;
  nodeId: string;
  correlationId: string;
  q: string;
  since: string;
  until: string;
}

const draftOf = (f: LogFilters): Draft => ({
  vmId: f.vmId,
  nodeId: f.nodeId,
  correlationId: f.correlationId,
  q: f.q,
  since: f.since,
  until: f.until,
});

/** A bound of the custom time range: a duration back from now or a time. */
function TimeBound(props: { label: string; id: string; placeholder: string; value: string; onChange: (v: string) => void; onBlur: () => void }) {
  return (
    <GridItem md={2}>
      <FormGroup label={props.label} fieldId={props.id}>
        <TextInput
          id={props.id}
          value={props.value}
          placeholder={props.placeholder}
          validated={timeBoundError(props.value) ? 'error' : 'default'}
          onChange={(_e, v) => props.onChange(v)}
          onBlur={props.onBlur}
        />
      </FormGroup>
    </GridItem>
  );
}

export default function LogsPage() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromQuery(params), [params]);
  const filterKey = filtersToQuery(filters);
  const log = useActionLogger('logs');
  const [draft, setDraft] = useState<Draft>(() => draftOf(filters));
  const [customTime, setCustomTime] = useState(() => timeChoice(filters.since, filters.until) === 'custom');
  const [componentsOpen, setComponentsOpen] = useState(false);
  const [correlation, setCorrelation] = useState<string | undefined>(undefined);
  const [live, setLive] = useState(false);
  const [legendShown, setLegendShown] = useState(true);
  const [liveEntries, setLiveEntries] = useState<LogEntry[]>([]);
  const [gap, setGap] = useState<GapEvent | undefined>(undefined);
  const pending = useRef<LogEntry[]>([]);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  // The URL changed (a link, back/forward, a filter): the draft follows it
  // and the live entries of the old filters go.
  const [shownKey, setShownKey] = useState(filterKey);
  if (shownKey !== filterKey) {
    setShownKey(filterKey);
    setDraft(draftOf(filters));
    setLiveEntries([]);
  }
  useEffect(() => () => clearTimeout(timer.current), []);

  const invalid = filtersError(filters);
  const pages = useLogPages(filters, invalid === undefined);
  const components = useLogComponents();
  const sources = useLogSources();
  const legend = legendFor(components.data?.components);
  const sourceList = sources.data?.sources ?? defaultSources;

  const apply = (next: LogFilters, changed: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(changed)) log.logFilterChange(k, Array.isArray(v) ? v.join(',') : String(v ?? ''));
    setParams(filtersToQuery(next), { replace: false });
  };
  const set = (patch: Partial<LogFilters>) => apply({ ...filters, ...patch }, patch);

  const applyDraft = () => {
    const patch: Partial<LogFilters> = {};
    for (const k of Object.keys(draft) as (keyof Draft)[]) {
      if (draft[k].trim() !== filters[k].trim()) patch[k] = draft[k];
    }
    if (Object.keys(patch).length > 0) set(patch);
  };

  const clearAll = () => {
    setCustomTime(false);
    apply(emptyFilters(), { all: 'cleared' });
  };

  const showCorrelation = (id: string) => {
    log.logClick('correlation id', { details: { correlation_id: id } });
    setCorrelation(id);
  };

  // Live tail: the entries appended from now on that match the filters.
  const streamQuery = useMemo(() => Object.fromEntries(filtersToParams(filtersFromQuery(filterKey))), [filterKey]);
  const liveStatus = useEventStream<LogEntry | GapEvent>(
    '/api/logs/stream',
    streamQuery,
    (msg) => {
      if (msg.type === 'gap') {
        setGap(msg.data as GapEvent);
        return;
      }
      if (msg.type !== 'log') return;
      pending.current.push(msg.data as LogEntry);
      if (timer.current !== undefined) return;
      timer.current = setTimeout(() => {
        timer.current = undefined;
        const batch = pending.current.reverse();
        pending.current = [];
        setLiveEntries((l) => [...batch, ...l].slice(0, liveKeep));
      }, 100);
    },
    { events: ['log', 'gap'], enabled: live && invalid === undefined },
  );

  const entries = useMemo(() => {
    const seen = new Set<string>();
    const out: LogEntry[] = [];
    for (const e of [...liveEntries, ...(pages.data?.pages.flatMap((p) => p.logs) ?? [])]) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      out.push(e);
    }
    return out;
  }, [liveEntries, pages.data]);

  const timeValue = customTime ? 'custom' : timeChoice(filters.since, filters.until);
  const nFilters = activeFilterCount(filters);

  return (
    <>
      <PageSection>
        <Flex justifyContent={{ default: 'justifyContentSpaceBetween' }} alignItems={{ default: 'alignItemsCenter' }}>
          <FlexItem>
            <Title headingLevel="h1">Logs</Title>
            <p>Every entry Quantix keeps: user actions in the console, the audit of API calls, the daemon's log and each VM's QEMU log.</p>
          </FlexItem>
          <FlexItem>
            <Flex alignItems={{ default: 'alignItemsCenter' }}>
              {EXPORT_FORMATS.map((f) => (
                <Button
                  key={f}
                  component="a"
                  variant="secondary"
                  icon={<DownloadIcon />}
                  href={exportUrl(filters, f)}
                  download={exportFileName(f)}
                  isAriaDisabled={invalid !== undefined}
                  onClick={() => log.logClick(`export ${f}`, { details: { format: f, filters: filterKey } })}
                >
                  Export {f.toUpperCase()}
                </Button>
              ))}
            </Flex>
          </FlexItem>
        </Flex>
      </PageSection>

      <PageSection>
        <Card>
          <CardBody>
            <ExpandableSection
              toggleTextExpanded="Hide the component legend"
              toggleTextCollapsed="Show the component legend"
              isExpanded={legendShown}
              onToggle={(_e, v) => setLegendShown(v)}
            >
              <ul className="quantix-legend" aria-label="Component legend">
                {legend.map((c) => (
                  <li key={c.name} title={c.description}>
                    <LogComponentBadge component={c.name} />
                  </li>
                ))}
              </ul>
            </ExpandableSection>
          </CardBody>
        </Card>
      </PageSection>

      <PageSection>
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            applyDraft();
          }}
          aria-label="Log filters"
        >
          <Grid hasGutter>
            <GridItem md={3}>
              <FormGroup label="Minimum level" fieldId="logs-level">
                <FormSelect
                  id="logs-level"
                  value={filters.level ?? ''}
                  onChange={(_e, v) => set({ level: v === '' ? undefined : (v as LogLevel) })}
                >
                  <FormSelectOption value="" label="Any level" />
                  {LOG_LEVELS.map((l) => (
                    <FormSelectOption key={l} value={l} label={l} />
                  ))}
                </FormSelect>
              </FormGroup>
            </GridItem>
            <GridItem md={5}>
              <FormGroup label="Sources" fieldId="logs-sources" role="group">
                <ToggleGroup aria-label="Sources" id="logs-sources">
                  {sourceList.map((s) => (
                    <ToggleGroupItem
                      key={s}
                      text={s}
                      buttonId={`logs-source-${s}`}
                      isSelected={filters.userActions ? s === 'ui' : filters.sources.includes(s)}
                      isDisabled={filters.userActions}
                      onChange={(_e, on) =>
                        set({ sources: on ? [...filters.sources, s] : filters.sources.filter((x) => x !== s) })
                      }
                    />
                  ))}
                </ToggleGroup>
              </FormGroup>
            </GridItem>
            <GridItem md={4}>
              <FormGroup label="User actions" fieldId="logs-user-actions">
                <Switch
                  id="logs-user-actions"
                  label="User actions only"
                  aria-label="User actions"
                  isChecked={filters.userActions}
                  onChange={(_e, on) => set({ userActions: on })}
                />
              </FormGroup>
            </GridItem>
            <GridItem md={3}>
              <FormGroup label="Components" fieldId="logs-components">
                <Select
                  role="menu"
                  isOpen={componentsOpen}
                  selected={filters.components}
                  onOpenChange={setComponentsOpen}
                  onSelect={(_e, v) => {
                    const c = String(v);
                    set({
                      components: filters.components.includes(c)
                        ? filters.components.filter((x) => x !== c)
                        : [...filters.components, c],
                    });
                  }}
                  toggle={(ref) => (
                    <MenuToggle
                      ref={ref}
                      id="logs-components"
                      onClick={() => setComponentsOpen((o) => !o)}
                      isExpanded={componentsOpen}
                      badge={filters.components.length > 0 ? <Badge isRead>{filters.components.length}</Badge> : undefined}
                    >
                      {filters.components.length === 0 ? 'Any component' : 'Components'}
                    </MenuToggle>
                  )}
                >
                  <SelectList aria-label="Components">
                    {legend.map((c) => (
                      <SelectOption key={c.name} value={c.name} hasCheckbox isSelected={filters.components.includes(c.name)}>
                        <LogComponentBadge component={c.name} compact />
                      </SelectOption>
                    ))}
                  </SelectList>
                </Select>
              </FormGroup>
            </GridItem>
            <GridItem md={3}>
              <FormGroup label="VM" fieldId="logs-vm">
                <TextInput id="logs-vm" value={draft.vmId} placeholder="VM id" onChange={(_e, v) => setDraft({ ...draft, vmId: v })} onBlur={applyDraft} />
              </FormGroup>
            </GridItem>
            <GridItem md={3}>
              <FormGroup label="Node" fieldId="logs-node">
                <TextInput id="logs-node" value={draft.nodeId} placeholder="Node id" onChange={(_e, v) => setDraft({ ...draft, nodeId: v })} onBlur={applyDraft} />
              </FormGroup>
            </GridItem>
            <GridItem md={3}>
              <FormGroup label="Correlation id" fieldId="logs-correlation">
                <TextInput
                  id="logs-correlation"
                  value={draft.correlationId}
                  onChange={(_e, v) => setDraft({ ...draft, correlationId: v })}
                  onBlur={applyDraft}
                />
              </FormGroup>
            </GridItem>
            <GridItem md={6}>
              <FormGroup label="Text" fieldId="logs-text">
                <SearchInput
                  id="logs-text"
                  aria-label="Text"
                  placeholder="In the message, action or target"
                  value={draft.q}
                  onChange={(_e, v) => setDraft({ ...draft, q: v })}
                  onSearch={(_e, v) => set({ q: v })}
                  onClear={() => {
                    setDraft({ ...draft, q: '' });
                    set({ q: '' });
                  }}
                />
              </FormGroup>
            </GridItem>
            <GridItem md={2}>
              <FormGroup label="Time range" fieldId="logs-time">
                <FormSelect
                  id="logs-time"
                  value={timeValue}
                  onChange={(_e, v) => {
                    if (v === 'custom') {
                      setCustomTime(true);
                      return;
                    }
                    setCustomTime(false);
                    set({ since: v, until: '' });
                  }}
                >
                  <FormSelectOption value="" label="Any time" />
                  {TIME_PRESETS.map((p) => (
                    <FormSelectOption key={p.value} value={p.value} label={p.label} />
                  ))}
                  <FormSelectOption value="custom" label="Custom" />
                </FormSelect>
              </FormGroup>
            </GridItem>
            {timeValue === 'custom' && (
              <>
                <TimeBound label="From" id="logs-since" placeholder="2h or 2026-01-18T10:00:00Z" value={draft.since} onChange={(v) => setDraft({ ...draft, since: v })} onBlur={applyDraft} />
                <TimeBound label="To" id="logs-until" placeholder="now" value={draft.until} onChange={(v) => setDraft({ ...draft, until: v })} onBlur={applyDraft} />
              </>
            )}
          </Grid>
          <ActionGroup>
            <Button type="submit" variant="primary">
              Apply filters
            </Button>
            <Button variant="link" onClick={clearAll} isDisabled={nFilters === 0}>
              Clear all filters
            </Button>
          </ActionGroup>
        </Form>
        {invalid && <Alert variant="danger" isInline title={invalid} />}
      </PageSection>

      <PageSection>
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <Switch
                id="logs-live"
                label="Live tail"
                isChecked={live}
                onChange={(_e, on) => {
                  log.logFilterChange('live tail', on);
                  setLive(on);
                  if (!on) setLiveEntries([]);
                }}
              />
            </ToolbarItem>
            {live && (
              <ToolbarItem>
                <LiveStatus status={liveStatus} />
              </ToolbarItem>
            )}
            <ToolbarItem>
              <LoggedButton
                logComponent="logs"
                variant="secondary"
                icon={<SyncAltIcon />}
                isLoading={pages.isFetching && !pages.isFetchingNextPage}
                onClick={() => {
                  setLiveEntries([]);
                  void pages.refetch();
                }}
              >
                Refresh
              </LoggedButton>
            </ToolbarItem>
            <ToolbarItem align={{ default: 'alignEnd' }}>
              <span aria-live="polite">
                {entries.length} entries shown{nFilters > 0 ? `, ${String(nFilters)} filter${nFilters === 1 ? '' : 's'} set` : ''}
              </span>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
        {gap && (
          <Alert
            variant="warning"
            isInline
            title="The live tail missed entries"
            actionClose={<AlertActionCloseButton onClose={() => setGap(undefined)} />}
          >
            {gap.message} Refresh to read them.
          </Alert>
        )}
        {pages.isError && <Alert variant="danger" isInline title={`The log cannot be read: ${pages.error.message}`} />}
        {pages.isPending && invalid === undefined && <Skeleton screenreaderText="Loading the log" />}
        {(pages.data || liveEntries.length > 0) && <LogTable entries={entries} caption="Log entries" onCorrelation={showCorrelation} />}
        {pages.hasNextPage && (
          <Button variant="secondary" onClick={() => void pages.fetchNextPage()} isLoading={pages.isFetchingNextPage}>
            Load older entries
          </Button>
        )}
      </PageSection>
      <CorrelationModal
        id={correlation}
        onClose={() => setCorrelation(undefined)}
        onFilter={(id) => {
          setCorrelation(undefined);
          setCustomTime(false);
          apply({ ...emptyFilters(), correlationId: id }, { correlationId: id });
        }}
      />
    </>
  );
}
