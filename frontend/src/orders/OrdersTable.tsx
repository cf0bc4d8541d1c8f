import type { Order } from '../api';
import { StatusBadge } from '../components/StatusBadge';
import { count, dateTime, shortId, yen } from '../format';

interface Props {
  orders: readonly Order[];
  selectedId: string | null;
  onSelect: (id: string) => void;
}

/** Order history; a row opens the order's detail (click, or Enter on its id button). */
export function OrdersTable({ orders, selectedId, onSelect }: Props) {
  if (orders.length === 0) return <p className="muted">No orders yet. Place one on the Products tab.</p>;
  return (
    <div className="table-wrap table-wrap--stack">
      <table className="table table--clickable table--stack">
        <caption className="visually-hidden">Orders, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Order</th>
            <th scope="col">Created</th>
            <th scope="col">Customer</th>
            <th scope="col">Product</th>
            <th scope="col" className="num">
              Qty
            </th>
            <th scope="col" className="num">
              Total
            </th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {orders.map((order) => (
            <tr
              key={order.id}
              className={order.id === selectedId ? 'is-selected' : undefined}
              aria-current={order.id === selectedId ? 'true' : undefined}
              data-testid={`order-row-${order.id}`}
              onClick={() => onSelect(order.id)}
            >
              <td className="c-id">
                <button
                  type="button"
                  className="link-button"
                  title={order.id}
                  aria-label={`Show order ${shortId(order.id)}`}
                  onClick={(event) => {
                    event.stopPropagation();
                    onSelect(order.id);
                  }}
                >
                  <code>{shortId(order.id)}</code>
                </button>
              </td>
              <td className="nowrap c-created">{dateTime(order.created_at)}</td>
              <td className="c-customer">{order.customer_name}</td>
              <td className="c-product">{order.product_name}</td>
              <td className="num c-qty">{count(order.quantity)}</td>
              <td className="num c-total">{yen(order.total_price)}</td>
              <td className="c-status">
                <StatusBadge status={order.status} testId={`status-${order.id}`} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
