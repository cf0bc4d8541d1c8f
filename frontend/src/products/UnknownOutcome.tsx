import { useEffect } from 'react';

import { ApiError, type OrderDetail, type Saga, errorMessage } from '../api';
import { Notice } from '../components/Notice';
import { StatusBadge } from '../components/StatusBadge';
import { shortId } from '../format';
import type { ConnectionState } from '../live';
import { useConnectionState, useLiveSagas } from '../LiveContext';
import { useOrder, useSagaUntilEnded } from '../queries';
import { type LiveSaga, mergeSagaStatus } from '../sagaStore';

interface Props {
  /** No answer, or a 5xx: the order may have been placed, or may still be. */
  error: Error;
  /** What became of the order is known now: its key is to be forgotten, so that the same
   * details are a new order, not this one answered again. */
  onLearnt: () => void;
}

/** The order a 503 names: the BFF chose its id before calling the saga. */
function namedOrder(error: unknown): string | null {
  const id = error instanceof ApiError ? error.body.order_id : undefined;
  return typeof id === 'string' ? id : null;
}

/** Why the outcome is unknown, as it stands now: a BFF that could not be reached may be
 * back, which the live connection tells. */
function unknownBecause(error: unknown, connection: ConnectionState): string {
  if (error instanceof TypeError && connection === 'live')
    return 'The connection to the BFF broke before it answered. It can be reached again now.';
  return errorMessage(error);
}

/** What became of an order whose outcome was unknown, once it is settled. */
export type Learnt = 'confirmed' | 'cancelled' | 'not placed' | 'failed';

const SAID: Record<Learnt, { tone: 'success' | 'danger'; title: string }> = {
  confirmed: { tone: 'success', title: 'Order confirmed' },
  cancelled: { tone: 'danger', title: 'Order cancelled' },
  'not placed': { tone: 'danger', title: 'Order not placed' },
  // a compensation was refused: the order may even be confirmed
  failed: { tone: 'danger', title: 'Saga failed: it needs an operator' },
};

/**
 * What became of the order the 503 named, once it is settled: its saga ended, or the order
 * was confirmed or cancelled. Null while it may still change (or could not be read). An
 * order never created while its saga has ended (stopped at CreateOrder) was not placed.
 * ``saga``: the saga as read by itself, for an order not created (yet).
 */
export function learntOutcome(
  order: OrderDetail | undefined,
  live: LiveSaga | undefined,
  notCreated: boolean,
  saga?: Saga,
): Learnt | null {
  const status = mergeSagaStatus(order?.saga?.status ?? saga?.status, live?.status);
  if (status === 'FAILED') return 'failed';
  if (order?.status === 'CONFIRMED' || status === 'COMPLETED') return 'confirmed';
  if (order?.status === 'CANCELLED') return 'cancelled';
  if (notCreated && status === 'COMPENSATED') return 'not placed';
  return null;
}

/** The order as last read: its status, or why it could not be read (and, if it is not
 * there, how far its saga is). */
function OrderNow({
  orderId,
  order,
  error,
  saga,
}: {
  orderId: string;
  order?: OrderDetail;
  error: unknown;
  saga: { data?: Saga; error: unknown };
}) {
  const id = <code title={orderId}>{shortId(orderId)}</code>;
  if (order)
    return (
      <p>
        Order {id} is <StatusBadge status={order.status} />
        {order.cancel_reason ? <>: {order.cancel_reason}</> : null}.
      </p>
    );
  if (!error) return <p className="muted">Looking up order {id}…</p>;
  if (error instanceof ApiError && error.status === 404) {
    if (saga.data)
      return (
        <p>
          Order {id} has not been created yet; its saga is <StatusBadge status={saga.data.status} />.
        </p>
      );
    if (saga.error instanceof ApiError && saga.error.status === 404)
      return <p>Order {id} has not been created, and no saga for it has been recorded (yet).</p>;
    return <p>Order {id} has not been created (yet).</p>;
  }
  // the order service, or the BFF, did not answer: the order may well exist
  return <p>Order {id} could not be looked up just now; it is read again as news of it comes.</p>;
}

/**
 * An order sent without an answer (no answer, a timeout, a 5xx). The saga may have got far
 * enough before a 503 for its resumer to finish the order: the order it names is read, and
 * read again as pushes about it arrive, until what became of it is known.
 */
export function UnknownOutcome({ error, onLearnt }: Props) {
  const connection = useConnectionState();
  const orderId = namedOrder(error);
  // both read again while it is unknown: a push that would settle it may have been missed
  const order = useOrder(orderId, { untilSettled: true });
  const live = useLiveSagas()[orderId ?? ''];
  const notCreated = order.error instanceof ApiError && order.error.status === 404;
  // the saga says what became of an order that is not there, or could not be read
  const saga = useSagaUntilEnded(order.data ? null : orderId);
  const learnt = orderId ? learntOutcome(order.data, live, notCreated, saga.data) : null;
  const known = learnt !== null;

  useEffect(() => {
    if (known) onLearnt();
  }, [known, onLearnt]);

  const now = orderId ? (
    <OrderNow orderId={orderId} order={order.data} error={order.error} saga={saga} />
  ) : null;
  if (learnt) {
    const { tone, title } = SAID[learnt];
    return (
      <Notice tone={tone} title={title}>
        {learnt === 'not placed' ? (
          <p>
            Order <code title={orderId ?? ''}>{shortId(orderId ?? '')}</code> was never created: its
            saga stopped at its first step.
          </p>
        ) : (
          now
        )}
        <p>
          The BFF could not say so when the order was sent ({errorMessage(error)}); it was learnt
          since. The same details placed again are a new order.
        </p>
      </Notice>
    );
  }
  return (
    <Notice tone="warning" title="Order outcome unknown">
      <p>{unknownBecause(error, connection)}</p>
      {now}
      <p>
        The order may have been placed. Place it again with the same details: it is sent with the
        same key, so it is placed at most once, and you get its result.
      </p>
    </Notice>
  );
}
