import { useEffect, useState } from 'react';

import { QueryError } from '../components/QueryError';
import { useLiveSagas } from '../LiveContext';
import { useSagas } from '../queries';
import { QUIET_MS, followedWhole, isSagaFinished } from '../sagaStore';
import { recentSagaIds } from './recentSagas';
import { SagaTimeline } from './SagaTimeline';

const SHOWN = 20;

export function SagaPanel() {
  const sagas = useSagas(SHOWN);
  const live = useLiveSagas();
  const listed = sagas.data?.items ?? [];
  const ids = recentSagaIds(listed, live, SHOWN);
  // ticks only while a saga is under way, so that one gone quiet is read again
  const now = useClock(QUIET_MS / 3, ids.some((id) => live[id] && !isSagaFinished(live[id].status)));
  // A saga followed live from its first step needs no read: its pushes are its log. Any
  // other that was pushed to since the list was read (joined midway, or quiet too long
  // to trust) has the list read again: one call for all of them.
  const listedAt = sagas.dataUpdatedAt;
  const unsure = ids
    .filter((id) => {
      const saga = live[id];
      if (!saga || followedWhole(saga, now)) return false;
      return !listed.some((s) => s.order_id === id) || listedAt < saga.heardAt;
    })
    .join();
  const { refetch } = sagas;
  useEffect(() => {
    if (unsure) void refetch({ cancelRefetch: false });
  }, [unsure, refetch]);

  return (
    <section aria-labelledby="saga-heading">
      <h2 id="saga-heading" className="section-title">
        Place-order sagas
      </h2>
      <p className="lede">
        The orchestrator runs CreateOrder → ReserveInventory → ConfirmOrder. When a step is refused
        it runs the compensations of the steps that happened, newest first; a step whose outcome
        is unknown (a timeout) is compensated too, since it may have happened. An unknown
        ConfirmOrder is answered by cancelling the order first: a confirmed order keeps its stock. Steps appear here live as the saga service records them. The {SHOWN} newest sagas are shown; the Events tab (service
        saga-service) holds every one.
      </p>
      <ul className="legend" aria-label="Legend">
        <li>
          <span className="tag tag--compensation">compensation</span> undoes an earlier step
        </li>
        <li>
          <span className="tag tag--resumed">resumed</span> taken over by the resumer after its first
          run stopped midway or left a step to it
        </li>
      </ul>
      {sagas.isError ? (
        <QueryError what="sagas" error={sagas.error} onRetry={() => void sagas.refetch()} />
      ) : null}
      {sagas.isPending ? <p className="muted">Loading sagas…</p> : null}
      {sagas.data && ids.length === 0 ? (
        <p className="muted">No sagas yet. Place an order on the Products tab.</p>
      ) : null}
      <ul className="sagas" aria-label={`The ${SHOWN} newest sagas`}>
        {ids.map((id) => (
          <SagaTimeline
            key={id}
            orderId={id}
            saga={listed.find((s) => s.order_id === id)}
            live={live[id]}
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
