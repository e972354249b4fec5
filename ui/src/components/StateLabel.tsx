import { css } from '@patternfly/react-styles';
import styles from '@patternfly/react-styles/css/components/Label/label.mjs';
import CheckCircleIcon from '@patternfly/react-icons/dist/esm/icons/check-circle-icon';
import ExclamationCircleIcon from '@patternfly/react-icons/dist/esm/icons/exclamation-circle-icon';
import ExclamationTriangleIcon from '@patternfly/react-icons/dist/esm/icons/exclamation-triangle-icon';
import InProgressIcon from '@patternfly/react-icons/dist/esm/icons/in-progress-icon';
import OffIcon from '@patternfly/react-icons/dist/esm/icons/off-icon';
import PauseCircleIcon from '@patternfly/react-icons/dist/esm/icons/pause-circle-icon';
import QuestionCircleIcon from '@patternfly/react-icons/dist/esm/icons/question-circle-icon';
import type { ReactNode } from 'react';

type Status = 'success' | 'warning' | 'danger';
type Color = 'blue' | 'orange' | 'grey';
type Look = { status?: Status; color?: Color; icon: ReactNode };

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

const colors: Record<Color, string> = { blue: styles.modifiers.blue, orange: styles.modifiers.orange, grey: '' };

export interface StaticLabelProps {
  children: string;
  status?: Status;
  color?: Color;
  icon?: ReactNode;
  isCompact?: boolean;
  variant?: 'filled' | 'outline';
}

/**
 * StaticLabel is a read-only PatternFly label: the markup and classes of
 * PatternFly's Label (its filled or outline variant, colour or status,
 * compact), without what a read-only label of a few words does not need.
 * PatternFly's Label measures its text after every mount (a layout effect
 * reading offsetWidth, to offer a tooltip when the text is cut), which
 * forces a layout per label: a table of a hundred rows paid for two
 * hundred of them on its first render.
 */
export function StaticLabel({ children, status, color = 'grey', icon, isCompact, variant = 'filled' }: StaticLabelProps) {
  return (
    <span
      className={css(
        styles.label,
        colors[color],
        variant === 'filled' ? styles.modifiers.filled : styles.modifiers.outline,
        status && styles.modifiers[status],
        isCompact && styles.modifiers.compact,
      )}
    >
      <span className={styles.labelContent}>
        {icon && <span className={styles.labelIcon}>{icon}</span>}
        <span className={styles.labelText}>{children}</span>
      </span>
    </span>
  );
}

/** StateLabel shows a VM's or node's state as a coloured label with an icon. */
export function StateLabel({ state, isCompact }: { state: string; isCompact?: boolean }) {
  const look = looks[state] ?? { color: 'grey', icon: <QuestionCircleIcon /> };
  return (
    <StaticLabel status={look.status} color={look.status ? undefined : look.color} icon={look.icon} isCompact={isCompact}>
      {state || 'UNKNOWN'}
    </StaticLabel>
  );
}

export default StateLabel;
