import {
  Alert,
  CodeBlock,
  CodeBlockCode,
  Content,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  EmptyState,
  EmptyStateBody,
  ExpandableSection,
  Spinner,
  Switch,
  ToggleGroup,
  ToggleGroupItem,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
  Tooltip,
} from '@patternfly/react-core';
import CopyIcon from '@patternfly/react-icons/dist/esm/icons/copy-icon';
import DownloadIcon from '@patternfly/react-icons/dist/esm/icons/download-icon';
import SyncAltIcon from '@patternfly/react-icons/dist/esm/icons/sync-alt-icon';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { useEventStream } from '../../api/sse';
import { useActionLogger } from '../../logging';
import { ActionButton } from '../VMs/ActionButton';
import type { LogEntry } from '../../api/types';
import { getVMLogs, vmKeys } from '../VMs/api';
import { errorText } from '../VMs/errors';
import { formatTime } from '../VMs/format';
import { commonIssues, issuesIn, severityFromAPI, severityFromLevel, type Severity } from './severity';

export const lineCounts = [50, 100, 200, 500, 1000];

export interface ShownLine {
  key: string;
  text: string;
  severity: Severity;
}

const severityColor: Record<Severity, string | undefined> = {
  error: 'var(--pf-t--global--text--color--status--danger--default)',
  warning: 'var(--pf-t--global--text--color--status--warning--default)',
  info: undefined,
};

const severityPrefix: Record<Severity, string> = { error: 'Error: ', warning: 'Warning: ', info: '' };

/** LogLines shows log lines, errors in red and warnings in yellow. */
export function LogLines({ lines }: { lines: ShownLine[] }) {
  return (
    <CodeBlock>
      <CodeBlockCode>
        {lines.map((l) => (
          <span
            key={l.key}
            data-severity={l.severity}
            className={`quantix-log-line quantix-log-line--${l.severity}`}
            style={{
              display: 'block',
              color: severityColor[l.severity],
              fontWeight: l.severity === 'error' ? 'bold' : undefined,
            }}
          >
            {severityPrefix[l.severity] && <span className="pf-v6-screen-reader">{severityPrefix[l.severity]}</span>}
            {l.text || ' '}
          </span>
        ))}
      </CodeBlockCode>
    </CodeBlock>
  );
}

/**
 * VMLogsPanel is the Logs tab: the tail of the VM's hypervisor log in a chosen
 * number of lines, followed live from the log stream (its qemu entries) when
 * Follow is on, refreshed on demand, copied or downloaded, coloured by the
 * API's severity, with help on the common issues it shows.
 */
export function VMLogsPanel({ vmId, vmName }: { vmId: string; vmName: string }) {
  const [lines, setLines] = useState(100);
  const [follow, setFollow] = useState(true);
  const [live, setLive] = useState<{ base: number; lines: ShownLine[] }>({ base: 0, lines: [] });
  const [copied, setCopied] = useState(false);
  const bottomRef = useRef<HTMLDivElement>(null);
  const log = useActionLogger('vm');

  const tail = useQuery({
    queryKey: vmKeys.logs(vmId, lines),
    queryFn: () => getVMLogs(vmId, lines),
    retry: false,
  });

  // Lines streamed after the tail was read are kept against the tail they follow.
  const tailAt = tail.dataUpdatedAt;

  useEventStream<LogEntry>(
    '/api/logs/stream',
    { vm_id: vmId, source: 'qemu' },
    (msg) => {
      if (msg.type !== 'log') return;
      const e = msg.data;
      setLive((prev) => {
        const base = prev.base === tailAt ? prev.lines : [];
        const next = [...base, { key: `s-${e.id}`, text: e.message, severity: severityFromLevel(e.level) }];
        return { base: tailAt, lines: next.slice(-lines) };
      });
    },
    { enabled: follow, events: ['log'] },
  );

  const shown: ShownLine[] = useMemo(() => {
    const fromTail = (tail.data?.lines ?? []).map((l) => ({
      key: `t-${l.n}`,
      text: l.text,
      severity: severityFromAPI(l.severity),
    }));
    const streamed = live.base === tailAt ? live.lines : [];
    return [...fromTail, ...streamed].slice(-lines);
  }, [tail.data, live, tailAt, lines]);

  useEffect(() => {
    if (follow) bottomRef.current?.scrollIntoView?.({ block: 'nearest' });
  }, [shown.length, follow]);

  const found = useMemo(() => issuesIn(shown), [shown]);
  const text = shown.map((l) => l.text).join('\n');

  const copy = async () => {
    await navigator.clipboard.writeText(text);
    setCopied(true);
  };
  const download = () => {
    const blob = new Blob([text + '\n'], { type: 'text/plain' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `${vmName || vmId}-qemu.log`;
    a.click();
    URL.revokeObjectURL(url);
  };

  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <ToggleGroup aria-label="Lines">
              {lineCounts.map((n) => (
                <ToggleGroupItem
                  key={n}
                  text={String(n)}
                  aria-label={`${n} lines`}
                  isSelected={lines === n}
                  onChange={() => {
                    log.logFilterChange('lines', n, { vmId });
                    setLines(n);
                  }}
                />
              ))}
            </ToggleGroup>
          </ToolbarItem>
          <ToolbarItem alignSelf="center">
            <Switch id="vm-logs-follow" label="Follow" isChecked={follow} onChange={(_e, v) => {
                log.logFilterChange('follow', v, { vmId });
                setFollow(v);
              }}
            />
          </ToolbarItem>
          <ToolbarItem>
            <ActionButton
              variant="secondary"
              vmId={vmId}
              icon={<SyncAltIcon />}
              onClick={() => void tail.refetch()}
              isLoading={tail.isFetching}
            >
              Refresh
            </ActionButton>
          </ToolbarItem>
          <ToolbarItem>
            <Tooltip content={copied ? 'Copied' : 'Copy to clipboard'} onTooltipHidden={() => setCopied(false)}>
              <ActionButton
                variant="plain"
                vmId={vmId}
                aria-label="Copy log to clipboard"
                icon={<CopyIcon />}
                onClick={() => void copy()}
              />
            </Tooltip>
          </ToolbarItem>
          <ToolbarItem>
            <Tooltip content="Download as a file">
              <ActionButton variant="plain" vmId={vmId} aria-label="Download log" icon={<DownloadIcon />} onClick={download} />
            </Tooltip>
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>

      {tail.data && (
        <DescriptionList isHorizontal isCompact columnModifier={{ default: '2Col' }}>
          <DescriptionListGroup>
            <DescriptionListTerm>Log file</DescriptionListTerm>
            <DescriptionListDescription>{tail.data.log_path || '—'}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Last modified</DescriptionListTerm>
            <DescriptionListDescription>
              {formatTime(tail.data.last_modified)} ({tail.data.log_size_bytes} bytes
              {tail.data.truncated ? `, last ${tail.data.lines_returned} lines` : ''})
            </DescriptionListDescription>
          </DescriptionListGroup>
        </DescriptionList>
      )}

      {found.map((issue) => (
        <Alert key={issue.id} variant="warning" isInline isPlain title={`This log shows: ${issue.title}`}>
          {issue.help}
        </Alert>
      ))}

      {tail.isError ? (
        <Alert variant="danger" isInline title="The log could not be read">
          {errorText(tail.error)}
        </Alert>
      ) : tail.isLoading ? (
        <Spinner aria-label="Loading the log" />
      ) : shown.length === 0 ? (
        <EmptyState titleText="The log is empty" headingLevel="h3">
          <EmptyStateBody>The hypervisor has written nothing for this VM yet.</EmptyStateBody>
        </EmptyState>
      ) : (
        <div role="log" aria-label={`Log of ${vmName}`} aria-live="off" style={{ maxHeight: '60vh', overflow: 'auto' }}>
          <LogLines lines={shown} />
          <div ref={bottomRef} />
        </div>
      )}

      <ExpandableSection toggleText="Common issues to look for">
        <Content component="dl">
          {commonIssues.map((i) => (
            <div key={i.id}>
              <Content component="dt">{i.title}</Content>
              <Content component="dd">{i.help}</Content>
            </div>
          ))}
        </Content>
      </ExpandableSection>
    </>
  );
}

export default VMLogsPanel;
