import { QueryError } from '../components/QueryError';
import { useMarketingDaily, useMarketingOverview, useMarketingProducts } from '../queries';
import { CustomersSection } from './CustomersSection';
import { DailySalesChart } from './DailySalesChart';
import { ProductPopularityChart } from './ProductPopularityChart';
import { SummaryCards } from './SummaryCards';

/** The marketing service's read models, projected from order events by its own worker. */
export default function MarketingPanel() {
  const overview = useMarketingOverview();
  const products = useMarketingProducts();
  const daily = useMarketingDaily();

  return (
    <div className="stack">
      <section aria-labelledby="marketing-heading">
        <h2 id="marketing-heading" className="section-title">
          Marketing
        </h2>
        <p className="lede">
          A separate read side: the marketing service folds <code>OrderCreated</code>,{' '}
          <code>OrderConfirmed</code> and <code>OrderCancelled</code> from Redis Streams into its own
          tables. It is eventually consistent, and refreshes here whenever an order changes status.
        </p>
        {overview.isError ? (
          <QueryError what="the overview" error={overview.error} onRetry={() => void overview.refetch()} />
        ) : null}
        {overview.data ? <SummaryCards summary={overview.data.summary} /> : null}
        {overview.isPending && !overview.isError ? <p className="muted">Loading…</p> : null}
      </section>
      <div className="charts">
        {products.isError ? (
          <QueryError what="product popularity" error={products.error} onRetry={() => void products.refetch()} />
        ) : null}
        {products.data ? <ProductPopularityChart products={products.data} /> : null}
        {daily.isError ? (
          <QueryError what="daily sales" error={daily.error} onRetry={() => void daily.refetch()} />
        ) : null}
        {daily.data ? <DailySalesChart days={daily.data} /> : null}
      </div>
      <CustomersSection />
    </div>
  );
}
