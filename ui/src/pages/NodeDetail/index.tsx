import { PageSection, Title } from '@patternfly/react-core';
import { useParams } from 'react-router';

export default function NodeDetailPage() {
  const { id } = useParams();
  return (
    <PageSection>
      <Title headingLevel="h1">Node {id}</Title>
    </PageSection>
  );
}
