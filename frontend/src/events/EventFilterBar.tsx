import { EVENT_SERVICES, type EventService } from '../api';
import { FieldError } from '../components/FieldError';

/** Every event type the three logs hold, offered as suggestions (the filter is exact). */
export const EVENT_TYPES = [
  'OrderCreated',
  'OrderConfirmed',
  'OrderCancelled',
  'OrderVoided',
  'ProductRegistered',
  'StockAdded',
  'StockReserved',
  'StockReleased',
  'ReservationVoided',
  'SagaStarted',
  'StepStarted',
  'StepSucceeded',
  'StepFailed',
  'StepPaused',
  'CompensationStarted',
  'SagaResumed',
  'SagaCompleted',
  'SagaCompensated',
  'SagaFailed',
] as const;

export interface EventFilterValues {
  service: EventService | '';
  type: string;
  aggregate: string;
}

interface Props {
  values: EventFilterValues;
  onChange: (values: EventFilterValues) => void;
  aggregateError?: string;
}

export function EventFilterBar({ values, onChange, aggregateError }: Props) {
  const set = <K extends keyof EventFilterValues>(key: K, value: EventFilterValues[K]) =>
    onChange({ ...values, [key]: value });
  const active = values.service !== '' || values.type !== '' || values.aggregate !== '';
  return (
    <form className="filters" role="search" aria-label="Filter events" onSubmit={(e) => e.preventDefault()}>
      <div className="field">
        <label htmlFor="filter-service">Service</label>
        <select
          id="filter-service"
          value={values.service}
          onChange={(event) => set('service', event.target.value as EventService | '')}
        >
          <option value="">All services</option>
          {EVENT_SERVICES.map((service) => (
            <option key={service} value={service}>
              {service}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="filter-type">Event type</label>
        <input
          id="filter-type"
          type="text"
          placeholder="e.g. OrderConfirmed"
          list="event-types"
          spellCheck={false}
          value={values.type}
          onChange={(event) => set('type', event.target.value)}
        />
        <datalist id="event-types">
          {EVENT_TYPES.map((type) => (
            <option key={type} value={type} />
          ))}
        </datalist>
      </div>
      <div className="field field--wide">
        <label htmlFor="filter-aggregate">Aggregate id</label>
        <input
          id="filter-aggregate"
          type="text"
          placeholder="a UUID"
          spellCheck={false}
          value={values.aggregate}
          aria-invalid={!!aggregateError}
          aria-describedby={aggregateError ? 'filter-aggregate-error' : undefined}
          onChange={(event) => set('aggregate', event.target.value)}
        />
        <FieldError id="filter-aggregate-error" message={aggregateError} />
      </div>
      <button
        type="button"
        className="button button--secondary button--small filters__clear"
        // aria-disabled, not disabled: clearing would drop the focus of the button just pressed
        aria-disabled={!active}
        onClick={() => {
          if (active) onChange({ service: '', type: '', aggregate: '' });
        }}
      >
        Clear filters
      </button>
    </form>
  );
}
