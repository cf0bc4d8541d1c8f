import { ApiError, type Order, type OrderDetail } from '../api';
import { StatusBadge } from '../components/StatusBadge';
import { count, dateTime, shortId } from '../format';
import { type LiveSaga, mergeSagaStatus, mergeSteps } from '../sagaStore';
import { SagaStepChips } from './SagaStepChips';

interface Props {
  orderId: string;
  order: Order | undefined;
  detail: OrderDetail | undefined;
  live: LiveSaga | undefined;
  error: unknown;
}

/** One saga: the detail endpoint's log with the live pushes laid over it. */
export function SagaTimeline({ orderId, order, detail, live, error }: Props) {
  const saga = detail?.saga ?? null;
  const steps = mergeSteps(detail?.saga_log ?? [], live);
  const status = mergeSagaStatus(saga?.status, live?.status);
  const resumed = !!saga?.resumed || !!live?.resumed;
  const reason = saga?.reason ?? live?.reason ?? null;
  const about = detail ?? order;
  const notYetFound = error instanceof ApiError && error.status === 404;

  return (
    <li className="card card--padded saga" data-testid={`saga-${orderId}`}>
      <div className="saga__head">
        <h3 className="saga__title">
          <code title={orderId}>{shortId(orderId)}</code>
          {about ? (
            <span>
              {' '}
              {about.customer_name} · {count(about.quantity)} × {about.product_name}
            </span>
          ) : null}
        </h3>
        <p className="saga__badges">
          {status ? <StatusBadge status={status} label={`Saga ${status}`} /> : null}
          {resumed ? (
            <span className="tag tag--resumed" title="Another process took this saga over after its driver stopped">
              resumed
            </span>
          ) : null}
        </p>
      </div>
      <p className="saga__when muted">
        {dateTime(saga?.created_at ?? about?.created_at ?? live?.firstAt)}
        {reason ? <> · {reason}</> : null}
      </p>
      {!error && detail && !saga && steps.length === 0 ? (
        // an order placed on the order service directly: no saga will come
        <p className="muted">No saga recorded for this order.</p>
      ) : (
        <SagaStepChips steps={steps} label={`Saga steps of order ${shortId(orderId)}`} />
      )}
      {error && !notYetFound && steps.length === 0 ? (
        <p className="muted">The saga log could not be loaded.</p>
      ) : null}
    </li>
  );
}
