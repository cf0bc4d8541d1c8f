import type { Saga } from '../api';
import { StatusBadge } from '../components/StatusBadge';
import { count, dateTime, shortId } from '../format';
import { type LiveSaga, mergeSagaStatus, mergeSteps } from '../sagaStore';
import { resumedNote } from './resumed';
import { SagaStepChips } from './SagaStepChips';

interface Props {
  orderId: string;
  /** The saga as last listed; undefined for one only pushed so far. */
  saga: Saga | undefined;
  live: LiveSaga | undefined;
}

/** One saga: its listed log with the live pushes laid over it. */
export function SagaTimeline({ orderId, saga, live }: Props) {
  const steps = mergeSteps(saga?.saga_log ?? [], live);
  const status = mergeSagaStatus(saga?.status, live?.status);
  const resumed = !!saga?.resumed || !!live?.resumed;
  const reason = saga?.reason ?? live?.reason ?? null;
  const about = saga?.customer_name ? saga : live?.about;

  return (
    <li className="card card--padded saga" data-testid={`saga-${orderId}`}>
      <div className="saga__head">
        <h3 className="saga__title">
          <code title={orderId}>{shortId(orderId)}</code>
          {about ? (
            <span>
              {' '}
              {/* isolated: a right-to-left name would otherwise reorder the id and count */}
              <bdi>{about.customer_name}</bdi> · {count(about.quantity ?? 0)} × <bdi>{about.product_name}</bdi>
            </span>
          ) : null}
        </h3>
        <p className="saga__badges">
          {status ? (
            <>
              {/* says whose status it is; an aria-label on the badge's span would go unread */}
              <span className="visually-hidden">Saga </span>
              <StatusBadge status={status} />
            </>
          ) : null}
          {resumed ? (
            <span className="tag tag--resumed" title={resumedNote(status, steps)}>
              resumed
            </span>
          ) : null}
        </p>
      </div>
      <p className="saga__when muted">
        {dateTime(saga?.created_at ?? live?.firstAt)}
        {reason ? <> · {reason}</> : null}
      </p>
      <SagaStepChips steps={steps} label={`Saga steps of order ${shortId(orderId)}`} />
    </li>
  );
}
