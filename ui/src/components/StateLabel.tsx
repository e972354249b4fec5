import { Label, type LabelProps } from '@patternfly/react-core';
import CheckCircleIcon from '@patternfly/react-icons/dist/esm/icons/check-circle-icon';
import ExclamationCircleIcon from '@patternfly/react-icons/dist/esm/icons/exclamation-circle-icon';
import ExclamationTriangleIcon from '@patternfly/react-icons/dist/esm/icons/exclamation-triangle-icon';
import InProgressIcon from '@patternfly/react-icons/dist/esm/icons/in-progress-icon';
import OffIcon from '@patternfly/react-icons/dist/esm/icons/off-icon';
import PauseCircleIcon from '@patternfly/react-icons/dist/esm/icons/pause-circle-icon';
import QuestionCircleIcon from '@patternfly/react-icons/dist/esm/icons/question-circle-icon';
import type { ReactNode } from 'react';

type Look = { status?: LabelProps['status']; color?: LabelProps['color']; icon: ReactNode };

const transitional: Look = { color: 'blue', icon: <InProgressIcon /> };

const looks: Record<string, Look> = {
  RUNNING: { status: 'success', icon: <CheckCircleIcon /> },
  READY: { status: 'success', icon: <CheckCircleIcon /> },
  STOPPED: { color: 'grey', icon: <OffIcon /> },
  TERMINATED: { color: 'grey', icon: <OffIcon /> },
  PAUSED: { color: 'orange', icon: <PauseCircleIcon /> },
  SUSPENDED: { color: 'orange', icon: <PauseCircleIcon /> },
  MAINTENANCE: { color: 'orange', icon: <PauseCircleIcon /> },
  CRASHED: { status: 'danger', icon: <ExclamationCircleIcon /> },
  ERROR: { status: 'danger', icon: <ExclamationCircleIcon /> },
  LOST: { status: 'danger', icon: <ExclamationCircleIcon /> },
  UNREACHABLE: { status: 'danger', icon: <ExclamationCircleIcon /> },
  UNKNOWN: { status: 'warning', icon: <ExclamationTriangleIcon /> },
  CREATING: transitional,
  STARTING: transitional,
  STOPPING: transitional,
  REBOOTING: transitional,
  MIGRATING: transitional,
  DELETING: transitional,
};

/** StateLabel shows a VM's or node's state as a coloured label with an icon. */
export function StateLabel({ state, isCompact }: { state: string; isCompact?: boolean }) {
  const look = looks[state] ?? { color: 'grey', icon: <QuestionCircleIcon /> };
  return (
    <Label status={look.status} color={look.status ? undefined : look.color} icon={look.icon} isCompact={isCompact}>
      {state || 'UNKNOWN'}
    </Label>
  );
}

export default StateLabel;
