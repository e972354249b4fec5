import { PageSection, Title } from '@patternfly/react-core';

export default function UsersPage() {
  return (
    <PageSection>
      <Title headingLevel="h1">Users and tokens</Title>
    </PageSection>
  );
}
