import type { StoredEvent } from '../api';
import { JsonBlock } from '../components/JsonBlock';
import { dateTime } from '../format';

interface Props {
  events: readonly StoredEvent[];
}

/** The order aggregate's own stream: replaying these events in order gives its state. */
export function OrderEventList({ events }: Props) {
  if (events.length === 0) return <p className="muted">No events.</p>;
  return (
    <ol className="event-stream" aria-label="Order events">
      {events.map((event) => (
        <li key={`${event.version}-${event.position}`} className="event-stream__item">
          <p className="event-stream__head">
            <span className="tag">v{event.version}</span>
            <strong>{event.event_type}</strong>
            <span className="muted">{dateTime(event.created_at)}</span>
          </p>
          {Object.keys(event.event_data).length > 0 ? (
            <JsonBlock label={`${event.event_type} data`} value={event.event_data} />
          ) : null}
        </li>
      ))}
    </ol>
  );
}
