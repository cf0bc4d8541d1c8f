import type { Product } from '../api';
import { yen } from '../format';
import { StockBar } from './StockBar';

interface Props {
  product: Product;
  selected: boolean;
  onChoose: (id: string) => void;
}

export function ProductCard({ product, selected, onChoose }: Props) {
  return (
    <li className={`card product${selected ? ' product--selected' : ''}`}>
      <div className="product__head">
        <h3 className="product__name">{product.product_name}</h3>
        <p className="product__price">{yen(product.price)}</p>
      </div>
      <StockBar product={product} />
      <button
        type="button"
        className="button button--secondary button--small"
        aria-label={`Order this ${product.product_name}`}
        aria-pressed={selected}
        onClick={() => onChoose(product.id)}
      >
        {selected ? <span aria-hidden="true">✓</span> : null}
        Order this
      </button>
    </li>
  );
}
