import { useId, useState } from 'react';

import type { StoredEvent } from '../api';
import { JsonBlock } from '../components/JsonBlock';
import { dateTime, shortId } from '../format';

interface Props {
  event: StoredEvent;
  onFilterAggregate: (aggregateId: string) => void;
}

const TRACE_KEYS = ['correlation_id', 'causation_id', 'command_id'] as const;

/** One event; its button expands the payload and the metadata that traces it to a command. */
export function EventRow({ event, onFilterAggregate }: Props) {
  const [open, setOpen] = useState(false);
  const detailsId = useId();
  return (
    <li className={`event${open ? ' event--open' : ''}`}>
      <div className="event__summary">
        <span className={`service service--${event.service ?? 'unknown'}`}>{event.service ?? '—'}</span>
        <span className="event__type">{event.event_type}</span>
        <span className="event__aggregate">
          {event.aggregate_type} <code title={event.aggregate_id}>{shortId(event.aggregate_id)}</code> v
          {event.version}
        </span>
        <time className="event__time muted" dateTime={event.created_at}>
          {dateTime(event.created_at)}
        </time>
        <button
          type="button"
          className="button button--secondary button--small event__toggle"
          aria-label={`Details of ${event.event_type} #${event.position}`}
          aria-expanded={open}
          aria-controls={detailsId}
          onClick={() => setOpen(!open)}
        >
          <span className="chevron" aria-hidden="true">
            {open ? '▾' : '▸'}
          </span>
          Details
        </button>
      </div>
      <div id={detailsId} className="event__details" hidden={!open}>
        {open ? (
          <>
            <dl className="facts facts--compact">
              <div>
                <dt>Aggregate id</dt>
                <dd>
                  <code>{event.aggregate_id}</code>{' '}
                  <button type="button" className="link-button" onClick={() => onFilterAggregate(event.aggregate_id)}>
                    Show only this aggregate
                  </button>
                </dd>
              </div>
              <div>
                <dt>Position</dt>
                <dd>{event.position}</dd>
              </div>
              {TRACE_KEYS.map((key) => (
                <div key={key}>
                  <dt>{key}</dt>
                  <dd>
                    <code>{typeof event.metadata[key] === 'string' ? event.metadata[key] : '—'}</code>
                  </dd>
                </div>
              ))}
            </dl>
            <div className="json-pair">
              <JsonBlock label="event_data" value={event.event_data} />
              <JsonBlock label="metadata" value={event.metadata} />
            </div>
          </>
        ) : null}
      </div>
    </li>
  );
}
