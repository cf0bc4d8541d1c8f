import { Component, type ReactNode } from 'react';

import { Notice } from './Notice';

interface State {
  error: Error | null;
}

/**
 * A panel that fails to render shows a notice in its place: the header, the tabs and the
 * other panels (and what was typed in them) stay. Without it React unmounts the whole page.
 * The likeliest cause is code that could not be loaded, such as the charts' chunk after a
 * redeploy renamed it, or while the BFF restarts: a reload fetches the current page.
 */
export class PanelBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  override render() {
    if (this.state.error === null) return this.props.children;
    return (
      <Notice tone="danger" title="This section could not be shown">
        <p>{this.state.error.message}</p>
        <button type="button" className="button" onClick={() => window.location.reload()}>
          Reload the page
        </button>
      </Notice>
    );
  }
}
