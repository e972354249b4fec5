import { Link } from 'react-router';
import { Label } from '@patternfly/react-core';
import type { NodeStreamEvent, VMStreamEvent } from '../api/types';
import type { Column } from './DataTable';
import { EventSubject, Time, stateChange } from './EventRow';

type Event = VMStreamEvent | NodeStreamEvent;

/**
 * The columns an event of GET /api/events can be shown with, for DataTable
 * (the Events page, the dashboard). vmNames names the VMs the events carry
 * by id.
 */
export function eventColumns(vmNames?: Record<string, string>) {
  return {
    time: { title: 'Time', cell: (ev) => <Time iso={ev.time} /> },
    subject: { title: 'Subject', cell: (ev) => <EventSubject ev={ev} vmNames={vmNames} /> },
    action: {
      title: 'Action',
      cell: (ev) => (
        <Label isCompact color={ev.kind === 'node' ? 'green' : 'blue'}>
          {ev.action}
        </Label>
      ),
    },
    state: { title: 'State', cell: (ev) => stateChange(ev) },
    cause: {
      title: 'Cause',
      cell: (ev) => (ev.kind === 'vm' ? ev.cause : ev.backend_healthy ? 'backend healthy' : 'backend unhealthy'),
    },
    message: {
      title: 'Message',
      cell: (ev) => (
        <>
          {ev.message}
          {ev.kind === 'vm' && (
            <>
              {' '}
              <Link to={`/logs?vm_id=${encodeURIComponent(ev.vm_id)}`} aria-label={`Logs of VM ${ev.vm_id}`}>
                logs
              </Link>
            </>
          )}
        </>
      ),
    },
  } satisfies Record<string, Column<Event>>;
}

/** The key of an event in a list of both kinds. */
export const eventKey = (ev: Event) => `${ev.kind}:${ev.id}`;
