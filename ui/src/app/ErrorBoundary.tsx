import { Component, type ErrorInfo, type ReactNode } from 'react';
import { Alert, PageSection } from '@patternfly/react-core';
import { logRenderError } from '../logging/start';

interface Props {
  children: ReactNode;
}
interface State {
  error: Error | null;
}

/** Shows a page's rendering error in place of the page instead of a blank screen. */
export class ErrorBoundary extends Component<Props, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error('page failed to render', error, info.componentStack);
    logRenderError(error, info.componentStack);
  }

  override render() {
    if (this.state.error) {
      return (
        <PageSection>
          <Alert variant="danger" isInline title="This page failed to show">
            {this.state.error.message}
          </Alert>
        </PageSection>
      );
    }
    return this.props.children;
  }
}
