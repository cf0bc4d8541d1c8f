import type { PlaceOrderAnswer, SagaStatus } from '../api';
import { Notice } from '../components/Notice';
import { StatusBadge } from '../components/StatusBadge';
import { StepList } from '../components/StepList';
import { shortId, yen } from '../format';
import { useLiveSagas } from '../LiveContext';
import { useOrder } from '../queries';
import { resumedNote } from '../saga/resumed';
import { isSagaFinished, mergeSagaStatus, mergeSteps } from '../sagaStore';
import { sentWhen } from './SentBeforeLoad';
import type { Unanswered } from './unansweredOrders';

interface Props {
  result: PlaceOrderAnswer;
  /** The key this order was sent with again, its outcome unknown: the BFF answered with the
   * order first sent with it, not a new one. */
  earlier?: Unanswered;
}

/** The banner's tone and title; ``order`` names the order ("Earlier order" for one answered
 * again). */
function outcome(status: SagaStatus | null, result: PlaceOrderAnswer, order: string) {
  if (status === 'COMPLETED' || (!status && result.success))
    return { tone: 'success', title: `${order} confirmed` } as const;
  if (status === 'RUNNING' || status === 'COMPENSATING' || (!status && result.httpStatus === 202))
    return { tone: 'info', title: `${order} still being processed` } as const;
  if (status === 'FAILED')
    // a compensation was refused: the order may even be confirmed
    return { tone: 'danger', title: 'Saga failed: it needs an operator' } as const;
  // stopped at CreateOrder: there is no order to call cancelled
  const first = result.saga_log?.[0];
  if (first?.action === 'CreateOrder' && first.status === 'FAILED')
    return { tone: 'danger', title: `${order} not placed` } as const;
  return { tone: 'danger', title: `${order} cancelled` } as const;
}

/** The saga's answer: a banner with its message, then every step it ran. An answer given
 * before the saga finished (202) follows it live until it does. */
export function OrderResult({ result, earlier }: Props) {
  const live = useLiveSagas()[result.order_id];
  // An answer given before the saga finished is also read again from the BFF, which a
  // reconnect's snapshot and each push about the order refresh: a push missed while the
  // socket was down cannot leave it "still being processed".
  const unfinished = result.status ? !isSagaFinished(result.status) : result.httpStatus === 202;
  const fetched = useOrder(unfinished ? result.order_id : null).data;
  const status = mergeSagaStatus(mergeSagaStatus(result.status, fetched?.saga?.status), live?.status);
  const steps = mergeSteps(fetched && unfinished ? fetched.saga_log : result.saga_log, live);
  const { tone, title } = outcome(status, result, earlier ? 'Earlier order' : 'Order');
  const resumed = !!(result.resumed || fetched?.saga?.resumed || live?.resumed);
  const movedOn = !!status && status !== result.status;
  let message = result.message ?? (result.success ? 'The saga completed.' : result.reason);
  if (movedOn && status === 'COMPLETED') message = 'The saga completed after it answered.';
  else if (movedOn) {
    // the answer's "still being processed" no longer holds once the saga has ended
    const reason = live?.reason || fetched?.saga?.reason;
    message = reason || (isSagaFinished(status) ? null : message);
  }
  return (
    <section className="result" aria-labelledby="result-heading">
      <h3 id="result-heading" className="visually-hidden">
        Result
      </h3>
      <Notice tone={tone} title={title}>
        {earlier ? (
          <p>
            This is the order {sentWhen(earlier)} with the same details, answered now: sent again
            with its key, it was not placed twice.
          </p>
        ) : null}
        {message ? <p>{message}</p> : null}
        {resumed ? (
          <p>
            <span className="tag tag--resumed">resumed</span> {resumedNote(status, steps)}
          </p>
        ) : null}
        <p className="result__meta">
          Order <code title={result.order_id}>{shortId(result.order_id)}</code>
          {result.total_price !== undefined ? <> · {yen(result.total_price)}</> : null}
          {status ? (
            <>
              {' '}
              · saga <StatusBadge status={status} />
            </>
          ) : null}
        </p>
      </Notice>
      <h4 className="subheading">Saga log</h4>
      <StepList steps={steps} />
    </section>
  );
}
