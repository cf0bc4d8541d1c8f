import { useState } from 'react';

import { QueryError } from '../components/QueryError';
import { useProducts } from '../queries';
import { OrderForm } from './OrderForm';
import { ProductCatalog } from './ProductCatalog';

export function ProductsPanel() {
  const products = useProducts();
  const [productId, setProductId] = useState('');
  const list = products.data ?? [];

  // Choosing a product on a card moves to the form (below the catalog on phones).
  const choose = (id: string) => {
    setProductId(id);
    const name = document.getElementById('order-customer') as HTMLInputElement | null;
    const target = name && !name.value ? name : document.getElementById('order-quantity');
    target?.focus();
  };

  return (
    <div className="split">
      <section aria-labelledby="catalog-heading">
        <h2 id="catalog-heading" className="section-title">
          Catalog
        </h2>
        <p className="lede">
          Stock lives in the inventory service as an event-sourced aggregate: a reservation is an
          event, and <em>available</em> is what is left after reservations.
        </p>
        {products.isPending ? <p className="muted">Loading products…</p> : null}
        {products.isError ? (
          <QueryError what="products" error={products.error} onRetry={() => void products.refetch()} />
        ) : null}
        {products.data ? (
          <ProductCatalog products={list} selectedId={productId} onChoose={choose} />
        ) : null}
      </section>
      <section aria-label="Order" className="card card--padded">
        <OrderForm products={list} productId={productId} onProductChange={setProductId} />
      </section>
    </div>
  );
}
