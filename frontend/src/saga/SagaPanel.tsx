import { useQueries } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import { api } from '../api';
import { QueryError } from '../components/QueryError';
import { useLiveSagas } from '../LiveContext';
import { useOrders } from '../queries';
import { ORDERS_PAGE_SIZE, queryKeys } from '../queryKeys';
import { QUIET_MS, followedWhole, isSagaFinished } from '../sagaStore';
import { recentSagaIds } from './recentSagas';
import { SagaTimeline } from './SagaTimeline';

const SHOWN = 20;

export function SagaPanel() {
  const orders = useOrders(ORDERS_PAGE_SIZE, 0);
  const live = useLiveSagas();
  const known = orders.data?.items ?? [];
  const ids = recentSagaIds(known, live, SHOWN);
  // ticks only while a saga is under way, so that one gone quiet is read again
  const now = useClock(QUIET_MS / 3, ids.some((id) => live[id] && !isSagaFinished(live[id].status)));
  // A saga followed live from its first step needs no detail: its pushes are its log, and
  // each would otherwise refetch it (an order's detail costs the BFF three calls).
  const details = useQueries({
    queries: ids.map((id) => ({
      queryKey: queryKeys.order(id),
      queryFn: () => api.order(id),
      staleTime: 15_000,
      enabled: !followedWhole(live[id], now),
    })),
  });

  return (
    <section aria-labelledby="saga-heading">
      <h2 id="saga-heading" className="section-title">
        Place-order sagas
      </h2>
      <p className="lede">
        The orchestrator runs CreateOrder → ReserveInventory → ConfirmOrder. When a step is refused
        it runs the compensations of the steps that happened, newest first. Steps appear here live as
        the saga service records them. The {SHOWN} newest sagas are shown; the Events tab (service
        saga-service) holds every one.
      </p>
      <ul className="legend" aria-label="Legend">
        <li>
          <span className="tag tag--compensation">compensation</span> undoes an earlier step
        </li>
        <li>
          <span className="tag tag--resumed">resumed</span> finished by the resumer after its first
          driver stopped
        </li>
      </ul>
      {orders.isError ? (
        <QueryError what="orders" error={orders.error} onRetry={() => void orders.refetch()} />
      ) : null}
      {orders.isPending ? <p className="muted">Loading sagas…</p> : null}
      {!orders.isPending && ids.length === 0 ? (
        <p className="muted">No sagas yet. Place an order on the Products tab.</p>
      ) : null}
      <ul className="sagas">
        {ids.map((id, index) => (
          <SagaTimeline
            key={id}
            orderId={id}
            order={known.find((o) => o.id === id)}
            detail={details[index]?.data}
            live={live[id]}
            error={details[index]?.error}
          />
        ))}
      </ul>
    </section>
  );
}

/** Date.now(), updated every ``everyMs`` while ``active``. */
function useClock(everyMs: number, active: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs, active]);
  return now;
}
