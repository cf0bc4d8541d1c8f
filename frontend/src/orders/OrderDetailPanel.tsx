import { useEffect, useRef } from 'react';

import { Degraded } from '../components/Degraded';
import { QueryError } from '../components/QueryError';
import { StatusBadge } from '../components/StatusBadge';
import { StepList } from '../components/StepList';
import { count, dateTime, shortId, yen } from '../format';
import { useLiveSagas } from '../LiveContext';
import { PARTIAL_RETRY_MS, useOrder } from '../queries';
import { mergeSteps } from '../sagaStore';
import { OrderEventList } from './OrderEventList';

interface Props {
  orderId: string;
  onClose: () => void;
}

function Unavailable({ service }: { service: string }) {
  return (
    <p className="muted">
      Unavailable: {service} did not answer. Read again every {PARTIAL_RETRY_MS / 1000} s until it
      does.
    </p>
  );
}

export function OrderDetailPanel({ orderId, onClose }: Props) {
  const detail = useOrder(orderId);
  const order = detail.data;
  // The fetched log, with each step pushed since laid over it, as the Saga tab does: the
  // detail itself is read again only when the order's status changes or its saga ends.
  const live = useLiveSagas()[orderId];
  const heading = useRef<HTMLHeadingElement>(null);

  // The parts a service that did not answer would have given (read again until it does).
  const missing = new Set(order?.degraded ?? []);
  const steps = order ? mergeSteps(order.saga_log, live) : [];

  // Opening an order moves focus to it; on a phone that also scrolls it into view.
  useEffect(() => {
    heading.current?.focus();
  }, [orderId]);

  return (
    <section className="card card--padded detail" aria-labelledby="order-detail-heading">
      <div className="detail__head">
        <h2 id="order-detail-heading" className="section-title" ref={heading} tabIndex={-1}>
          Order <code title={orderId}>{shortId(orderId)}</code>
        </h2>
        <button type="button" className="button button--secondary button--small" onClick={onClose}>
          Close
        </button>
      </div>
      {detail.isPending ? <p className="muted">Loading order…</p> : null}
      {detail.isError ? (
        <QueryError what="the order" error={detail.error} onRetry={() => void detail.refetch()} />
      ) : null}
      {order ? (
        <>
          <Degraded services={order.degraded} />
          <dl className="facts">
            <div>
              <dt>Status</dt>
              <dd>
                <StatusBadge status={order.status} />
              </dd>
            </div>
            <div>
              <dt>Customer</dt>
              <dd>
                <bdi>{order.customer_name}</bdi>
              </dd>
            </div>
            <div>
              <dt>Product</dt>
              <dd>
                {count(order.quantity)} × <bdi>{order.product_name}</bdi>
              </dd>
            </div>
            <div>
              <dt>Total</dt>
              <dd>{yen(order.total_price)}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>{dateTime(order.created_at)}</dd>
            </div>
            {order.cancel_reason ? (
              <div>
                <dt>Cancel reason</dt>
                <dd>{order.cancel_reason}</dd>
              </div>
            ) : null}
          </dl>
          <h3 className="subheading">Saga steps</h3>
          {/* a log not read is not an empty one: "none recorded yet" would be untrue */}
          {missing.has('saga-service') && steps.length === 0 ? (
            <Unavailable service="saga-service" />
          ) : (
            <StepList steps={steps} label={`Saga steps of order ${shortId(orderId)}`} />
          )}
          <h3 className="subheading">Events</h3>
          {missing.has('order-service') && order.events.length === 0 ? (
            <Unavailable service="order-service" />
          ) : (
            <OrderEventList events={order.events} />
          )}
        </>
      ) : null}
    </section>
  );
}
