import { Button, type ButtonProps } from '@patternfly/react-core';
import { Children, isValidElement, type MouseEvent, type ReactNode } from 'react';
import type { UIComponent } from './uiLogger';
import { useActionLogger } from './useActionLogger';

export interface LoggedButtonProps extends ButtonProps {
  /** The part of the product the click is about, as the Logs page filters it. */
  logComponent: UIComponent;
  /** What the entry names as clicked; by default the button's text, else its aria-label. */
  logLabel?: string;
  /** Details kept with the entry (never secrets: entries are readable by every user). */
  logDetails?: Record<string, unknown>;
  /** The VM or node the click acts on. */
  vmId?: string;
  nodeId?: string;
}

/** The text a person reads in node (strings and numbers, in order). */
export function textOf(node: ReactNode): string {
  const parts: string[] = [];
  const walk = (n: ReactNode) => {
    if (typeof n === 'string' || typeof n === 'number') {
      parts.push(String(n));
    } else if (Array.isArray(n)) {
      n.forEach(walk);
    } else if (isValidElement<{ children?: ReactNode }>(n)) {
      Children.forEach(n.props.children, walk);
    }
  };
  walk(node);
  return parts.join('').replace(/\s+/g, ' ').trim();
}

/**
 * A PatternFly Button whose click is logged (action "click", its label as
 * the target) and begins a user action before the button's own onClick
 * runs: the API calls that onClick makes carry the action's correlation id.
 * A disabled button (isDisabled, isAriaDisabled) logs nothing, as it does
 * nothing.
 */
export function LoggedButton({ logComponent, logLabel, logDetails, vmId, nodeId, onClick, ...props }: LoggedButtonProps) {
  const { logClick } = useActionLogger(logComponent);
  const label = logLabel ?? (textOf(props.children) || props['aria-label'] || 'button');
  const handle = (e: MouseEvent<HTMLButtonElement>) => {
    logClick(label, { vmId, nodeId, details: logDetails });
    onClick?.(e);
  };
  return <Button {...props} onClick={handle} />;
}
