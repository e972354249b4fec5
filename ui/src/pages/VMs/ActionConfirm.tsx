import { Checkbox, Content, FormGroup, List, ListItem, NumberInput, Radio, Stack, StackItem } from '@patternfly/react-core';
import { useState, type ReactNode } from 'react';
import { ConfirmModal } from '../../components/ConfirmModal';
import { ActionButton } from './ActionButton';
import type { VMActionName } from './actions';
import type { BulkTarget } from './bulk';
import { actionTitles } from './useVMAction';

export interface ActionOptions {
  force: boolean;
  timeoutSec?: number;
}

export interface ActionConfirmProps {
  action: VMActionName;
  targets: BulkTarget[];
  /** The initial force option; for reset_state, Force Reset State. */
  force?: boolean;
  isBusy?: boolean;
  onConfirm: (opts: ActionOptions) => void;
  onClose: () => void;
}

function names(targets: BulkTarget[]): ReactNode {
  if (targets.length === 1) return <strong>{targets[0].name}</strong>;
  const shown = targets.slice(0, 10);
  return (
    <List aria-label="Selected VMs">
      {shown.map((t) => (
        <ListItem key={t.id}>{t.name}</ListItem>
      ))}
      {targets.length > shown.length && <ListItem>and {targets.length - shown.length} more</ListItem>}
    </List>
  );
}

/**
 * ActionConfirm asks before an action on one VM or several, saying what it does
 * and taking its options: how to stop (gracefully within a timeout, or force
 * off), whether a delete may stop a running VM first, and for Force Reset
 * State what it skips.
 */
export function ActionConfirm({ action, targets, force: initialForce = false, isBusy, onConfirm, onClose }: ActionConfirmProps) {
  const [force, setForce] = useState(initialForce);
  const [timeoutSec, setTimeoutSec] = useState<number | ''>(30);
  const one = targets.length === 1;
  const what = one ? targets[0].name : `${targets.length} VMs`;
  let title = `${actionTitles[action]} ${what}?`;
  let body: ReactNode;
  let variant: 'primary' | 'danger' = 'primary';
  let confirmLabel = actionTitles[action];
  const subject = one ? 'The VM' : 'Each VM';

  switch (action) {
    case 'stop':
      body = (
        <Stack hasGutter>
          <StackItem>{names(targets)}</StackItem>
          <StackItem>
            <Radio
              id="stop-graceful"
              name="stop-mode"
              label="Shut down gracefully"
              description="The guest is asked to shut down; when the timeout passes, it is stopped hard."
              isChecked={!force}
              onChange={() => setForce(false)}
            />
            {!force && (
              <FormGroup label="Timeout (seconds)" fieldId="stop-timeout">
                <NumberInput
                  id="stop-timeout"
                  inputName="stop-timeout"
                  inputAriaLabel="Timeout (seconds)"
                  minusBtnAriaLabel="Shorter timeout"
                  plusBtnAriaLabel="Longer timeout"
                  min={1}
                  max={3600}
                  value={timeoutSec}
                  onMinus={() => setTimeoutSec((v) => Math.max(1, (v || 30) - 10))}
                  onPlus={() => setTimeoutSec((v) => Math.min(3600, (v || 30) + 10))}
                  onChange={(e) => {
                    const raw = (e.target as HTMLInputElement).value;
                    setTimeoutSec(raw === '' ? '' : Math.min(3600, Math.max(1, Number(raw))));
                  }}
                />
              </FormGroup>
            )}
            <Radio
              id="stop-force"
              name="stop-mode"
              label="Force off"
              description="Stopped at once, like pulling the power cord: unsaved data in the guest is lost."
              isChecked={force}
              onChange={() => setForce(true)}
            />
          </StackItem>
        </Stack>
      );
      if (force) {
        variant = 'danger';
        confirmLabel = 'Force off';
      }
      break;
    case 'delete':
      variant = 'danger';
      body = (
        <Stack hasGutter>
          <StackItem>{names(targets)}</StackItem>
          <StackItem>
            <Content component="p">
              {subject} is removed from its node with the disks it owns. This cannot be undone; the record stays
              in the history as TERMINATED.
            </Content>
          </StackItem>
          <StackItem>
            <Checkbox
              id="delete-force"
              label="Force: stop a running VM first"
              isChecked={force}
              onChange={(_e, v) => setForce(v)}
            />
          </StackItem>
        </Stack>
      );
      break;
    case 'reset_state':
      title = force ? `Force Reset State of ${what}?` : `Reset State of ${what}?`;
      confirmLabel = force ? 'Force Reset State' : 'Reset State';
      variant = force ? 'danger' : 'primary';
      body = force ? (
        <Content component="p">
          The state is set to STOPPED without asking the host. Use it when the VM&apos;s node is gone or
          unreachable for good: if the VM still runs there, Quantix will show it as stopped until the node reports
          it again.
        </Content>
      ) : (
        <Content component="p">
          The VM&apos;s node is asked for the VM&apos;s real state and the record is set to it (STOPPED when the
          host does not have the VM). This gets a VM out of a state it is stuck in, such as STOPPING. It needs the
          node&apos;s agent to be connected; when it is not, use Force Reset State.
        </Content>
      );
      break;
    default:
      body = (
        <Stack hasGutter>
          <StackItem>{names(targets)}</StackItem>
        </Stack>
      );
  }

  return (
    <ConfirmModal
      isOpen
      title={title}
      confirmLabel={confirmLabel}
      variant={variant}
      titleIconVariant={variant === 'danger' ? 'warning' : undefined}
      isBusy={isBusy}
      isConfirmDisabled={action === 'stop' && !force && timeoutSec === ''}
      onClose={onClose}
      onConfirm={() => onConfirm({ force, timeoutSec: action === 'stop' && !force ? Number(timeoutSec) : undefined })}
      renderConfirm={(p) => <ActionButton {...p} />}
    >
      {body}
    </ConfirmModal>
  );
}
