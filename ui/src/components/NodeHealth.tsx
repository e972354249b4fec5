import { Label, Tooltip } from '@patternfly/react-core';
import CheckCircleIcon from '@patternfly/react-icons/dist/esm/icons/check-circle-icon';
import ExclamationCircleIcon from '@patternfly/react-icons/dist/esm/icons/exclamation-circle-icon';
import type { Node } from '../api/types';

/** The health of a node's backend: "libvirt 10.0 healthy", or the error. */
export function BackendHealth({ node, isCompact }: { node: Node; isCompact?: boolean }) {
  const b = node.backend;
  const name = [b.name || 'no backend', b.version].filter(Boolean).join(' ');
  if (b.healthy) {
    return (
      <Label status="success" icon={<CheckCircleIcon />} isCompact={isCompact}>
        {name}: healthy
      </Label>
    );
  }
  const label = (
    <Label status="danger" icon={<ExclamationCircleIcon />} isCompact={isCompact}>
      {name}: unhealthy
    </Label>
  );
  if (!b.error) return label;
  return (
    <Tooltip content={b.error}>
      <span tabIndex={0} aria-label={`${name}: unhealthy: ${b.error}`}>
        {label}
      </span>
    </Tooltip>
  );
}
