import { PageSection, Title } from '@patternfly/react-core';

export default function LogsPage() {
  return (
    <PageSection>
      <Title headingLevel="h1">Logs</Title>
    </PageSection>
  );
}
