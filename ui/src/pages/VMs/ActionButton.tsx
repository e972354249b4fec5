import { LoggedButton, type LoggedButtonProps } from '../../logging';

export type ActionButtonProps = Omit<LoggedButtonProps, 'logComponent'>;

/** ActionButton is the VM pages' button for actions: a click is logged as a user action on the vm component. */
export function ActionButton(props: ActionButtonProps) {
  return <LoggedButton logComponent="vm" {...props} />;
}
