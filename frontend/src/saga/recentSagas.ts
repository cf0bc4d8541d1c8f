import type { Saga } from '../api';
import type { SagaState } from '../sagaStore';

function time(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(t) ? 0 : t;
}

/** The order ids of the newest `limit` sagas: those listed plus those only pushed so far. */
export function recentSagaIds(listed: readonly Saga[], live: SagaState, limit: number): string[] {
  const when = new Map<string, number>();
  for (const saga of listed) when.set(saga.order_id, time(saga.created_at));
  for (const saga of Object.values(live)) {
    if (!when.has(saga.orderId)) when.set(saga.orderId, time(saga.firstAt));
  }
  return [...when.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([id]) => id);
}
