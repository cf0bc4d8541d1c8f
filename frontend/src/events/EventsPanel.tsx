import { useState } from 'react';

import type { EventFilters } from '../api';
import { Degraded } from '../components/Degraded';
import { Pager } from '../components/Pager';
import { QueryError } from '../components/QueryError';
import { useEvents } from '../queries';
import { useDebouncedValue } from '../useDebouncedValue';
import { EventFilterBar, type EventFilterValues } from './EventFilterBar';
import { EventRow } from './EventRow';

const PAGE_SIZE = 50;
// The BFF merges the newest 1,000 events of the three services (MAX_EVENT_WINDOW): pages go
// as far as that window's last.
const WINDOW = 1000;
const MAX_OFFSET = WINDOW - PAGE_SIZE;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function EventsPanel() {
  const [values, setValues] = useState<EventFilterValues>({ service: '', type: '', aggregate: '' });
  const [offset, setOffset] = useState(0);
  const typed = {
    type: useDebouncedValue(values.type.trim(), 300),
    aggregate: useDebouncedValue(values.aggregate.trim(), 300),
  };
  const aggregateError =
    typed.aggregate && !UUID.test(typed.aggregate) ? 'Enter a whole aggregate id (a UUID).' : undefined;

  const filters: EventFilters = {
    service: values.service,
    type: typed.type,
    aggregate: aggregateError ? '' : typed.aggregate,
    limit: PAGE_SIZE,
    offset,
  };
  const events = useEvents(filters);
  const page = events.data;

  const changeFilters = (next: EventFilterValues) => {
    setValues(next);
    setOffset(0);
  };

  return (
    <section aria-labelledby="events-heading">
      <h2 id="events-heading" className="section-title">
        Event log
      </h2>
      <p className="lede">
        Event sourcing: each service's table of events is its source of truth. The BFF merges the
        order, inventory and saga logs into one timeline, newest first. Metadata traces every event
        to the command and the request that caused it.
      </p>
      <EventFilterBar values={values} onChange={changeFilters} aggregateError={aggregateError} />
      {page ? <Degraded services={page.degraded} /> : null}
      {events.isError ? (
        <QueryError what="events" error={events.error} onRetry={() => void events.refetch()} />
      ) : null}
      {events.isPending ? <p className="muted">Loading events…</p> : null}
      {page && !aggregateError ? (
        <>
          {page.items.length === 0 ? <p className="muted">No events match.</p> : null}
          <ul className="events" aria-label="Events, newest first" aria-busy={events.isFetching}>
            {page.items.map((event) => (
              <EventRow
                key={`${event.service ?? ''}:${event.position}`}
                event={event}
                onFilterAggregate={(id) => changeFilters({ ...values, aggregate: id })}
              />
            ))}
          </ul>
          <Pager
            label="Event pages"
            offset={offset}
            limit={PAGE_SIZE}
            total={page.total}
            shown={page.items.length}
            onChange={setOffset}
            maxOffset={MAX_OFFSET}
          />
          {page.total !== null && page.total > WINDOW ? (
            <p className="muted">
              Only the newest {WINDOW.toLocaleString('en-US')} events can be paged through; filter
              by service, type or aggregate to find older ones.
            </p>
          ) : null}
        </>
      ) : null}
    </section>
  );
}
