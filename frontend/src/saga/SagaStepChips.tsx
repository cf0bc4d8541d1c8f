import type { SagaStep } from '../api';
import { StatusBadge } from '../components/StatusBadge';
import { duration } from '../format';
import { isCompensating } from '../sagaStore';

interface Props {
  steps: readonly SagaStep[];
  label: string;
}

/** One saga's steps left to right; compensations are marked and styled apart. */
export function SagaStepChips({ steps, label }: Props) {
  if (steps.length === 0) return <p className="muted">Waiting for the first step…</p>;
  return (
    <ol className="timeline" aria-label={label}>
      {steps.map((step) => {
        const compensating = isCompensating(step);
        return (
          <li
            key={step.step}
            className={`timeline__step timeline__step--${step.status.toLowerCase()}${
              compensating ? ' timeline__step--compensating' : ''
            }`}
            data-compensating={compensating}
          >
            <p className="timeline__title">
              <span className="timeline__number">
                <span className="visually-hidden">Step </span>
                {step.step}
              </span>
              <span className="timeline__action">{step.action}</span>
            </p>
            <p className="timeline__meta">
              <StatusBadge status={step.status} />
              <span>{duration(step.duration_ms)}</span>
              {step.attempts && step.attempts > 1 ? <span>{step.attempts} attempts</span> : null}
            </p>
            {compensating ? <span className="tag tag--compensation">compensation</span> : null}
            {step.error ? <p className="timeline__error">{step.error}</p> : null}
            {step.status === 'STARTED' && step.message ? (
              <p className="timeline__note">{step.message}</p>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}
