import { PageSection, Title } from '@patternfly/react-core';
import { useParams } from 'react-router';

export default function VMDetailPage() {
  const { id } = useParams();
  return (
    <PageSection>
      <Title headingLevel="h1">Virtual machine {id}</Title>
    </PageSection>
  );
}
