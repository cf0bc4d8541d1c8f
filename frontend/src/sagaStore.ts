/**
 * Live saga state folded from `saga.step` and `saga.status` pushes, per order. The Saga tab
 * merges it over the saga list's logs: pushes are at-least-once and may
 * arrive out of order, so each step keeps the entry with the highest position, and a
 * finished status never goes back to a running one.
 */
import type {
  SagaAbout,
  SagaStatus,
  SagaStatusMessage,
  SagaStep,
  SagaStepMessage,
  StepStatus,
} from './api';

export interface LiveStep extends SagaStep {
  position: number;
}

export interface LiveSaga {
  orderId: string;
  sagaId: string;
  status: SagaStatus | null;
  statusPosition: number;
  resumed: boolean;
  reason: string | null;
  /** What the saga places, from its start's push. */
  about?: SagaAbout;
  steps: Record<number, LiveStep>;
  /** When the first push for this saga arrived (the saga's time). */
  firstAt: string;
  lastAt: string;
  /** The socket reconnected since this saga's first push: pushes may have been missed. */
  gap: boolean;
  /** When its last push arrived, by this browser's clock (Date.now()). */
  heardAt: number;
}

export type SagaState = Readonly<Record<string, LiveSaga>>;

const MAX_SAGAS = 100;

const FINISHED_SAGA: readonly string[] = ['COMPLETED', 'COMPENSATED', 'FAILED'];

export function isSagaFinished(status: SagaStatus | null | undefined): boolean {
  return !!status && FINISHED_SAGA.includes(status);
}

function stepRank(status: StepStatus): number {
  return status === 'STARTED' ? 0 : 1;
}

function sagaRank(status: SagaStatus | null | undefined): number {
  if (!status) return -1;
  if (status === 'RUNNING') return 0;
  if (status === 'COMPENSATING') return 1;
  return 2;
}

function blank(orderId: string, sagaId: string, at: string): LiveSaga {
  return {
    orderId,
    sagaId,
    status: null,
    statusPosition: -1,
    resumed: false,
    reason: null,
    steps: {},
    firstAt: at,
    lastAt: at,
    gap: false,
    heardAt: Date.now(),
  };
}

/** How long an unfinished saga may go without a push before its log is read again: the BFF
 * logs and drops a push it fails to send, and the socket need not drop with it. */
export const QUIET_MS = 30_000;

/** Whether every push of this saga has reached us, from its first step on: then its log is
 * whole here, and the detail endpoint has nothing to add. An unfinished saga quiet for
 * {@link QUIET_MS} may have lost a push, and is not. */
export function followedWhole(saga: LiveSaga | undefined, now: number = Date.now()): boolean {
  if (!saga || saga.gap || !(1 in saga.steps)) return false;
  return isSagaFinished(saga.status) || now - saga.heardAt < QUIET_MS;
}

/** After a reconnect: what was pushed meanwhile is missing from every saga known so far. */
export function markGap(state: SagaState): SagaState {
  const ids = Object.keys(state);
  if (ids.every((id) => state[id].gap)) return state;
  return Object.fromEntries(ids.map((id) => [id, { ...state[id], gap: true }]));
}

function prune(state: Record<string, LiveSaga>): Record<string, LiveSaga> {
  const ids = Object.keys(state);
  if (ids.length <= MAX_SAGAS) return state;
  const keep = ids
    .sort((a, b) => state[b].lastAt.localeCompare(state[a].lastAt))
    .slice(0, MAX_SAGAS);
  return Object.fromEntries(keep.map((id) => [id, state[id]]));
}

export function applySagaStep(state: SagaState, message: SagaStepMessage): SagaState {
  const saga = state[message.order_id] ?? blank(message.order_id, message.saga_id, message.at);
  const known = saga.steps[message.step];
  if (known && known.position >= message.position) return state;
  const step: LiveStep = {
    step: message.step,
    action: message.action,
    status: message.status,
    error: message.error,
    message: message.message,
    compensating: message.compensating,
    attempts: message.attempts,
    duration_ms: message.duration_ms,
    timestamp: known?.timestamp ?? message.at,
    finished_at: message.status === 'STARTED' ? null : message.at,
    position: message.position,
  };
  return prune({
    ...state,
    [message.order_id]: {
      ...saga,
      sagaId: message.saga_id,
      steps: { ...saga.steps, [message.step]: step },
      lastAt: message.at,
      heardAt: Date.now(),
    },
  });
}

export function applySagaStatus(state: SagaState, message: SagaStatusMessage): SagaState {
  const saga = state[message.order_id] ?? blank(message.order_id, message.saga_id, message.at);
  const next: LiveSaga = {
    ...saga,
    sagaId: message.saga_id,
    resumed: saga.resumed || message.resumed,
    about: saga.about ?? message.about,
    lastAt: message.at,
    heardAt: Date.now(),
  };
  if (message.status && message.position > saga.statusPosition) {
    if (sagaRank(message.status) >= sagaRank(saga.status)) {
      next.status = message.status;
      next.reason = message.reason ?? saga.reason;
      next.statusPosition = message.position;
    }
  }
  return prune({ ...state, [message.order_id]: next });
}

/** Whether ``a`` is further along than ``b``: a later status, or, still under way, more
 * attempts (a compensation paused for the resumer again since ``b`` was read). */
function isFurther(a: SagaStep, b: SagaStep): boolean {
  const ranks = stepRank(a.status) - stepRank(b.status);
  return ranks > 0 || (ranks === 0 && (a.attempts ?? 0) > (b.attempts ?? 0));
}

/** The saga log from the detail endpoint with any newer live step laid over it. */
export function mergeSteps(log: readonly SagaStep[], live: LiveSaga | undefined): SagaStep[] {
  const byStep = new Map<number, SagaStep>();
  for (const step of log) byStep.set(step.step, step);
  if (live) {
    for (const step of Object.values(live.steps)) {
      const known = byStep.get(step.step);
      if (!known || isFurther(step, known)) byStep.set(step.step, step);
    }
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** The further-along of the detail endpoint's status and the live one. */
export function mergeSagaStatus(
  fetched: SagaStatus | null | undefined,
  live: SagaStatus | null | undefined,
): SagaStatus | null {
  if (sagaRank(live) > sagaRank(fetched)) return live ?? null;
  return fetched ?? live ?? null;
}

export function isCompensating(step: Pick<SagaStep, 'action' | 'compensating'>): boolean {
  return step.compensating === true || step.action.endsWith('(COMPENSATING)');
}

/** A tiny external store for `useSyncExternalStore`. */
export class SagaStore {
  private state: SagaState = {};
  private readonly listeners = new Set<() => void>();

  getSnapshot = (): SagaState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  step(message: SagaStepMessage): void {
    this.set(applySagaStep(this.state, message));
  }

  status(message: SagaStatusMessage): void {
    this.set(applySagaStatus(this.state, message));
  }

  reconnected(): void {
    this.set(markGap(this.state));
  }

  private set(state: SagaState): void {
    if (state === this.state) return;
    this.state = state;
    for (const listener of this.listeners) listener();
  }
}
