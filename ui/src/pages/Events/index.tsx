import { PageSection, Title } from '@patternfly/react-core';

export default function EventsPage() {
  return (
    <PageSection>
      <Title headingLevel="h1">Events</Title>
    </PageSection>
  );
}
