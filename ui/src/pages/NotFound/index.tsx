import { Button, EmptyState, EmptyStateBody, EmptyStateFooter, PageSection } from '@patternfly/react-core';
import { useNavigate } from 'react-router';

export default function NotFoundPage() {
  const navigate = useNavigate();
  return (
    <PageSection>
      <EmptyState titleText="Page not found" headingLevel="h1">
        <EmptyStateBody>There is no page at this address.</EmptyStateBody>
        <EmptyStateFooter>
          <Button variant="primary" onClick={() => navigate('/')}>
            Go to the dashboard
          </Button>
        </EmptyStateFooter>
      </EmptyState>
    </PageSection>
  );
}
