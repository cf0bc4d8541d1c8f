import { useState } from 'react';

import { Pager } from '../components/Pager';
import { QueryError } from '../components/QueryError';
import { useOrders } from '../queries';
import { ORDERS_PAGE_SIZE } from '../queryKeys';
import { OrderDetailPanel } from './OrderDetailPanel';
import { OrdersTable } from './OrdersTable';

export function OrdersPanel() {
  const [offset, setOffset] = useState(0);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const orders = useOrders(ORDERS_PAGE_SIZE, offset);
  const page = orders.data;

  return (
    <div className={selectedId ? 'split split--detail' : undefined}>
      <section aria-labelledby="orders-heading">
        <h2 id="orders-heading" className="section-title">
          Order history
        </h2>
        <p className="lede">
          The query side (CQRS): a read model projected from the order events. Status badges change
          live as the BFF pushes <code>order.status</code> over the websocket.
        </p>
        {orders.isPending ? <p className="muted">Loading orders…</p> : null}
        {orders.isError ? (
          <QueryError what="orders" error={orders.error} onRetry={() => void orders.refetch()} />
        ) : null}
        {page ? (
          <>
            <OrdersTable orders={page.items} selectedId={selectedId} onSelect={setSelectedId} />
            <Pager
              label="Order pages"
              offset={offset}
              limit={ORDERS_PAGE_SIZE}
              total={page.total}
              shown={page.items.length}
              onChange={setOffset}
            />
          </>
        ) : null}
      </section>
      {selectedId ? (
        <OrderDetailPanel
          orderId={selectedId}
          onClose={() => {
            setSelectedId(null);
            // Back to the row the detail was opened from.
            document
              .querySelector<HTMLButtonElement>(`[data-testid="order-row-${selectedId}"] button`)
              ?.focus();
          }}
        />
      ) : null}
    </div>
  );
}
