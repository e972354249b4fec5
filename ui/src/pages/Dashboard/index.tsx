import { PageSection, Title } from '@patternfly/react-core';

export default function DashboardPage() {
  return (
    <PageSection>
      <Title headingLevel="h1">Dashboard</Title>
    </PageSection>
  );
}
