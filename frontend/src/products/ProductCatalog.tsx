import type { Product } from '../api';
import { ProductCard } from './ProductCard';

interface Props {
  products: readonly Product[];
  selectedId: string;
  onChoose: (id: string) => void;
}

export function ProductCatalog({ products, selectedId, onChoose }: Props) {
  if (products.length === 0) return <p className="muted">The catalog is empty.</p>;
  return (
    <ul className="catalog" aria-label="Catalog">
      {products.map((product) => (
        <ProductCard
          key={product.id}
          product={product}
          selected={product.id === selectedId}
          onChoose={onChoose}
        />
      ))}
    </ul>
  );
}
