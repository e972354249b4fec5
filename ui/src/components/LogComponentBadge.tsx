import { Label } from '@patternfly/react-core';
import { componentLook } from './logComponents';

export interface LogComponentBadgeProps {
  /** The entry's component as the API names it (empty: none). */
  component: string | undefined | null;
  /** Compact: the icon and the label in a smaller badge (tables). */
  compact?: boolean;
  /** Makes the badge a button that calls onClick (the legend filters by it). */
  onClick?: () => void;
  /** With onClick: the badge shows as chosen. */
  selected?: boolean;
}

/**
 * A coloured badge with an icon naming a log entry's component. Unknown
 * components get a grey badge with their own name, so nothing is hidden.
 */
export function LogComponentBadge({ component, compact, onClick, selected }: LogComponentBadgeProps) {
  const look = componentLook(component);
  const Icon = look.icon;
  return (
    <Label
      color={look.color}
      icon={<Icon aria-hidden="true" />}
      isCompact={compact}
      variant={onClick && !selected ? 'outline' : 'filled'}
      onClick={onClick}
      aria-pressed={onClick ? Boolean(selected) : undefined}
      title={look.description}
      data-component={look.name}
    >
      {look.label}
    </Label>
  );
}
