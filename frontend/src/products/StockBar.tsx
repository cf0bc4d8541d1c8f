import type { Product } from '../api';
import { count } from '../format';

interface Props {
  product: Product;
}

/** Stock on hand split into reserved (held by running or confirmed orders) and available. */
export function StockBar({ product }: Props) {
  const total = Math.max(product.quantity, 1);
  const reservedPct = Math.min(100, (product.reserved / total) * 100);
  const availablePct = Math.min(100 - reservedPct, (product.available / total) * 100);
  return (
    <div className="stock">
      <div className="stock__bar" aria-hidden="true">
        <span className="stock__reserved" style={{ width: `${reservedPct}%` }} />
        <span className="stock__available" style={{ width: `${availablePct}%` }} />
      </div>
      <dl className="stock__numbers">
        <div>
          <dt>Available</dt>
          <dd>{count(product.available)}</dd>
        </div>
        <div>
          <dt>Reserved</dt>
          <dd>{count(product.reserved)}</dd>
        </div>
        <div>
          <dt>Quantity</dt>
          <dd>{count(product.quantity)}</dd>
        </div>
      </dl>
    </div>
  );
}
