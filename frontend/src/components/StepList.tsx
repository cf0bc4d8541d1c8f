import type { SagaStep } from '../api';
import { duration } from '../format';
import { isCompensating } from '../sagaStore';
import { StatusBadge } from './StatusBadge';

interface Props {
  steps: readonly SagaStep[];
  label?: string;
}

/** A saga log: each step with its number, action, status, duration and error. */
export function StepList({ steps, label = 'Saga log' }: Props) {
  if (steps.length === 0) return <p className="muted">No saga steps recorded yet.</p>;
  return (
    <ol className="steps" aria-label={label}>
      {steps.map((step) => {
        const compensating = isCompensating(step);
        return (
          <li
            key={step.step}
            className={`step step--${step.status.toLowerCase()}${compensating ? ' step--compensating' : ''}`}
            data-testid={`step-${step.step}`}
          >
            <span className="step__number">
              {/* text, not aria-label: a span has no role, so its label would go unread */}
              <span className="visually-hidden">Step </span>
              {step.step}
            </span>
            <div className="step__body">
              <p className="step__head">
                <span className="step__action">{step.action}</span>
                <StatusBadge status={step.status} />
                {compensating ? <span className="tag tag--compensation">compensation</span> : null}
              </p>
              <p className="step__meta">
                <span>Duration {duration(step.duration_ms)}</span>
                {step.attempts && step.attempts > 1 ? <span>{step.attempts} attempts</span> : null}
                {step.message ? <span>{step.message}</span> : null}
              </p>
              {step.error ? (
                <p className="step__error">
                  <span className="visually-hidden">Error: </span>
                  {step.error}
                </p>
              ) : null}
            </div>
          </li>
        );
      })}
    </ol>
  );
}
