import type { Order } from '../api';
import type { SagaState } from '../sagaStore';

function time(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(t) ? 0 : t;
}

/** The newest `limit` order ids that have (or will have) a saga: known orders plus live pushes. */
export function recentSagaIds(orders: readonly Order[], live: SagaState, limit: number): string[] {
  const when = new Map<string, number>();
  for (const order of orders) when.set(order.id, time(order.created_at));
  for (const saga of Object.values(live)) {
    if (!when.has(saga.orderId)) when.set(saga.orderId, time(saga.firstAt));
  }
  return [...when.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([id]) => id);
}
