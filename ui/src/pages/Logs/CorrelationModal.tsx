import { Alert, Button, Modal, ModalBody, ModalFooter, ModalHeader, Skeleton } from '@patternfly/react-core';
import { useCorrelation } from './queries';
import { LogTable, isUserAction } from './LogRows';

export interface CorrelationModalProps {
  id: string | undefined;
  onClose: () => void;
  /** Shows the id as the page's only filter. */
  onFilter: (id: string) => void;
}

/**
 * Everything with one correlation id, oldest first: a user's action in the
 * console and the audit entries of the API calls it made, or the entries of
 * one API request.
 */
export function CorrelationModal({ id, onClose, onFilter }: CorrelationModalProps) {
  const q = useCorrelation(id);
  const entries = q.data?.logs ?? [];
  const ui = entries.filter(isUserAction).length;
  const audit = entries.filter((e) => e.source === 'audit').length;
  return (
    <Modal variant="large" isOpen={id !== undefined} onClose={onClose} aria-labelledby="correlation-title">
      <ModalHeader
        title={`Correlation ${id ?? ''}`}
        labelId="correlation-title"
        description={
          q.data
            ? `${String(entries.length)} entr${entries.length === 1 ? 'y' : 'ies'}: ${String(ui)} user action${ui === 1 ? '' : 's'}, ${String(audit)} audit entr${audit === 1 ? 'y' : 'ies'}, oldest first`
            : undefined
        }
      />
      <ModalBody>
        {q.isPending && <Skeleton screenreaderText="Loading the entries" />}
        {q.isError && <Alert variant="danger" isInline title={`The entries cannot be read: ${q.error.message}`} />}
        {q.data && <LogTable entries={entries} caption={`Entries with correlation id ${id ?? ''}`} />}
        {q.data?.has_more && <Alert variant="info" isInline title="Only the first 1000 entries are shown." />}
      </ModalBody>
      <ModalFooter>
        <Button variant="secondary" onClick={() => id && onFilter(id)}>
          Filter the log by this id
        </Button>
      </ModalFooter>
    </Modal>
  );
}
