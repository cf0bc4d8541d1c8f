import type { SagaStatus, SagaStep } from '../api';
import { isSagaFinished } from '../sagaStore';

/** A compensation a pass gave up on for now, as the BFF pushes it (a `StepPaused`): still
 * STARTED, its message saying so. */
export function waitsForResumer(step: Pick<SagaStep, 'status' | 'message'>): boolean {
  return step.status === 'STARTED' && !!step.message?.startsWith('waiting for the resumer');
}

/**
 * What "resumed" means for a saga as it stands. The resumer takes over a saga its first run
 * left unfinished: the process running it stopped midway, or it gave up on a compensation at
 * its deadline and left it to the resumer. So the resumer has finished it only once the
 * saga has ended; until then it may be waiting for the resumer's next try.
 */
export function resumedNote(status: SagaStatus | null, steps: readonly SagaStep[]): string {
  const took =
    "The saga's first run did not finish it (its process stopped midway, or it gave up on a step " +
    "at its deadline); the saga service's resumer took it over from its persisted log";
  if (isSagaFinished(status)) return `${took} and finished it.`;
  if (steps.some(waitsForResumer))
    return `${took} and has not finished it yet: a step is waiting for the resumer to try it again.`;
  return `${took} and is running it.`;
}
