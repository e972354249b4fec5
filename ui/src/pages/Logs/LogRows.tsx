import { useState } from 'react';
import { Link } from 'react-router';
import { Button, CodeBlock, CodeBlockCode, Label } from '@patternfly/react-core';
import { ExpandableRowContent, Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import UserIcon from '@patternfly/react-icons/dist/esm/icons/user-icon';
import type { LogEntry, LogLevel } from '../../api/types';
import { LogComponentBadge } from '../../components/LogComponentBadge';
import { Time, shortId } from '../../components/EventRow';

const levelLook: Record<LogLevel, { color: 'red' | 'orange' | 'blue' | 'grey'; text: string }> = {
  error: { color: 'red', text: 'ERROR' },
  warn: { color: 'orange', text: 'WARN' },
  info: { color: 'blue', text: 'INFO' },
  debug: { color: 'grey', text: 'DEBUG' },
};

export function LevelLabel({ level }: { level: LogLevel }) {
  const l = levelLook[level] ?? { color: 'grey', text: String(level).toUpperCase() };
  return (
    <Label color={l.color} isCompact>
      {l.text}
    </Label>
  );
}

/** Whether an entry records what a user did in a front end. */
export const isUserAction = (e: LogEntry) => e.source === 'ui' && e.user_action !== false;

export interface LogTableProps {
  entries: LogEntry[];
  caption: string;
  /** Called with a correlation id clicked; without it ids are plain text. */
  onCorrelation?: (id: string) => void;
}

/**
 * The table of log entries: UI actions marked with a "User action" label
 * and a bar; a row opens on its fields; a correlation id is a button that
 * shows everything with that id.
 */
export function LogTable({ entries, caption, onCorrelation }: LogTableProps) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const toggle = (id: string) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  return (
    <Table aria-label={caption} variant="compact">
      <Thead>
        <Tr>
          <Th screenReaderText="Details" />
          <Th>Time</Th>
          <Th>Level</Th>
          <Th>Source</Th>
          <Th>Component</Th>
          <Th>Message</Th>
          <Th>Subject</Th>
          <Th>Correlation</Th>
        </Tr>
      </Thead>
      {entries.map((e, i) => {
        const ui = isUserAction(e);
        const isOpen = open.has(e.id);
        const user = typeof e.fields?.user === 'string' ? e.fields.user : undefined;
        return (
          <Tbody key={e.id} isExpanded={isOpen}>
            <Tr className={ui ? 'quantix-log-ui' : undefined} data-source={e.source} data-user-action={ui ? 'true' : undefined}>
              <Td
                expand={{ rowIndex: i, isExpanded: isOpen, onToggle: () => toggle(e.id), expandId: `log-${e.id}` }}
                aria-label={`Details of the entry at ${e.timestamp}`}
              />
              <Td dataLabel="Time">
                <Time iso={e.timestamp} />
              </Td>
              <Td dataLabel="Level">
                <LevelLabel level={e.level} />
              </Td>
              <Td dataLabel="Source">
                {ui ? (
                  <Label color="purple" icon={<UserIcon />} isCompact>
                    User action
                  </Label>
                ) : (
                  e.source
                )}
              </Td>
              <Td dataLabel="Component">
                <LogComponentBadge component={e.component} compact />
              </Td>
              <Td dataLabel="Message">
                <div className="quantix-log-message">{e.message}</div>
                {(e.action || e.target) && (
                  <small>
                    {e.action}
                    {e.target ? ` → ${e.target}` : ''}
                    {user ? ` by ${user}` : ''}
                  </small>
                )}
              </Td>
              <Td dataLabel="Subject">
                {e.vm_id && (
                  <Link to={`/vms/${encodeURIComponent(e.vm_id)}`} title={e.vm_id}>
                    VM {shortId(e.vm_id)}
                  </Link>
                )}
                {e.vm_id && e.node_id ? ' ' : ''}
                {e.node_id && (
                  <Link to={`/nodes/${encodeURIComponent(e.node_id)}`} title={e.node_id}>
                    Node {shortId(e.node_id)}
                  </Link>
                )}
              </Td>
              <Td dataLabel="Correlation">
                {e.correlation_id &&
                  (onCorrelation ? (
                    <Button
                      variant="link"
                      isInline
                      onClick={() => onCorrelation(e.correlation_id ?? '')}
                      aria-label={`Show everything with correlation id ${e.correlation_id}`}
                      title={e.correlation_id}
                    >
                      {shortId(e.correlation_id)}
                    </Button>
                  ) : (
                    <span title={e.correlation_id}>{shortId(e.correlation_id)}</span>
                  ))}
              </Td>
            </Tr>
            {isOpen && (
              <Tr isExpanded>
                <Td colSpan={8}>
                  <ExpandableRowContent>
                    <CodeBlock>
                      <CodeBlockCode>{JSON.stringify(e, null, 2)}</CodeBlockCode>
                    </CodeBlock>
                  </ExpandableRowContent>
                </Td>
              </Tr>
            )}
          </Tbody>
        );
      })}
      {entries.length === 0 && (
        <Tbody>
          <Tr>
            <Td colSpan={8}>No entry matches.</Td>
          </Tr>
        </Tbody>
      )}
    </Table>
  );
}
