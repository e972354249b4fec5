import { PageSection, Title } from '@patternfly/react-core';

export default function VMsPage() {
  return (
    <PageSection>
      <Title headingLevel="h1">Virtual machines</Title>
    </PageSection>
  );
}
