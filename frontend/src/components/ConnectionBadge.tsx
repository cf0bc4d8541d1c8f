import { useConnectionState } from '../LiveContext';
import type { ConnectionState } from '../live';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

const HINTS: Record<ConnectionState, string> = {
  connecting: 'Opening the websocket to the BFF',
  live: 'Order and saga changes are pushed over the websocket as they happen',
  reconnecting: 'The websocket dropped; retrying with exponential backoff',
  offline: 'The BFF cannot be reached; still retrying every few seconds',
};

/** The websocket's state, announced politely to screen readers when it changes. */
export function ConnectionBadge() {
  const state = useConnectionState();
  return (
    <p
      className={`connection connection--${state}`}
      data-testid="connection-state"
      data-state={state}
      role="status"
      title={HINTS[state]}
    >
      <span className="connection__dot" aria-hidden="true" />
      {LABELS[state]}
    </p>
  );
}
