import { useConnectionState } from '../LiveContext';
import type { ConnectionState } from '../live';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stalled: 'Updates stalled',
  offline: 'Offline',
};

const HINTS: Record<ConnectionState, string> = {
  connecting: 'Opening the websocket to the BFF',
  live: 'Order and saga changes are pushed over the websocket as they happen',
  reconnecting:
    'The websocket dropped, or updates were missed and it is renewed for the current state; retrying with exponential backoff',
  stalled:
    "The BFF's live feed has gone quiet (its Redis down or hung, or the feed stopped), so changes may not be shown; reconnecting to load the current state",
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
