import { Button, Modal, ModalBody, ModalFooter, ModalHeader } from '@patternfly/react-core';
import { useId, type ReactNode } from 'react';

export interface ConfirmModalProps {
  isOpen: boolean;
  title: string;
  /** What will happen, said plainly. */
  children: ReactNode;
  /** The confirm button's text (the action: "Delete", "Force Reset State"). */
  confirmLabel: string;
  /** danger for what cannot be undone. */
  variant?: 'primary' | 'danger';
  titleIconVariant?: 'warning' | 'danger' | 'info';
  isBusy?: boolean;
  isConfirmDisabled?: boolean;
  onConfirm: () => void;
  onClose: () => void;
  /** Replaces the confirm button (for a logged button); receives its props. */
  renderConfirm?: (props: ConfirmButtonProps) => ReactNode;
}

export interface ConfirmButtonProps {
  variant: 'primary' | 'danger';
  isLoading: boolean;
  isDisabled: boolean;
  onClick: () => void;
  children: ReactNode;
}

/** ConfirmModal asks before an action, saying what it does. */
export function ConfirmModal({
  isOpen,
  title,
  children,
  confirmLabel,
  variant = 'primary',
  titleIconVariant,
  isBusy = false,
  isConfirmDisabled = false,
  onConfirm,
  onClose,
  renderConfirm,
}: ConfirmModalProps) {
  const titleId = useId();
  const bodyId = useId();
  const confirm: ConfirmButtonProps = {
    variant,
    isLoading: isBusy,
    isDisabled: isBusy || isConfirmDisabled,
    onClick: onConfirm,
    children: confirmLabel,
  };
  return (
    <Modal
      variant="small"
      isOpen={isOpen}
      onClose={onClose}
      aria-labelledby={titleId}
      aria-describedby={bodyId}
    >
      <ModalHeader title={title} labelId={titleId} titleIconVariant={titleIconVariant} />
      <ModalBody id={bodyId}>{children}</ModalBody>
      <ModalFooter>
        {renderConfirm ? renderConfirm(confirm) : <Button {...confirm} />}
        <Button variant="link" onClick={onClose} isDisabled={isBusy}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}

export default ConfirmModal;
