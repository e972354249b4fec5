import { PageSection, Title } from '@patternfly/react-core';

export default function NodesPage() {
  return (
    <PageSection>
      <Title headingLevel="h1">Nodes</Title>
    </PageSection>
  );
}
