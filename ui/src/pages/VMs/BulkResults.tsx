import { Button, Content, Icon, Modal, ModalBody, ModalFooter, ModalHeader } from '@patternfly/react-core';
import CheckCircleIcon from '@patternfly/react-icons/dist/esm/icons/check-circle-icon';
import ExclamationCircleIcon from '@patternfly/react-icons/dist/esm/icons/exclamation-circle-icon';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { summarize, summaryText, type BulkAction, type BulkResult } from './bulk';

/** BulkResults shows the outcome of a bulk action, one row per VM. */
export function BulkResults({
  action,
  results,
  onClose,
}: {
  action: BulkAction;
  results: BulkResult[];
  onClose: () => void;
}) {
  const s = summarize(results);
  return (
    <Modal variant="medium" isOpen onClose={onClose} aria-labelledby="bulk-results-title">
      <ModalHeader
        title={summaryText(action, s)}
        labelId="bulk-results-title"
        titleIconVariant={s.failed === 0 ? 'success' : s.succeeded === 0 ? 'danger' : 'warning'}
      />
      <ModalBody>
        <Content component="p">
          {s.succeeded} of {s.total} succeeded.
        </Content>
        <Table aria-label="Result per VM" variant="compact">
          <Thead>
            <Tr>
              <Th>VM</Th>
              <Th>Result</Th>
              <Th>Message</Th>
            </Tr>
          </Thead>
          <Tbody>
            {results.map((r) => (
              <Tr key={r.id}>
                <Td dataLabel="VM">{r.name}</Td>
                <Td dataLabel="Result">
                  {r.ok ? (
                    <>
                      <Icon status="success" isInline>
                        <CheckCircleIcon />
                      </Icon>{' '}
                      Succeeded
                    </>
                  ) : (
                    <>
                      <Icon status="danger" isInline>
                        <ExclamationCircleIcon />
                      </Icon>{' '}
                      Failed
                    </>
                  )}
                </Td>
                <Td dataLabel="Message">{r.message}</Td>
              </Tr>
            ))}
          </Tbody>
        </Table>
      </ModalBody>
      <ModalFooter>
        <Button variant="primary" onClick={onClose}>
          Close
        </Button>
      </ModalFooter>
    </Modal>
  );
}
