import type { MarketingSummary } from '../api';
import { count, percent, yen } from '../format';

interface Props {
  summary: MarketingSummary;
}

export function SummaryCards({ summary }: Props) {
  const cards: { label: string; value: string }[] = [
    { label: 'Revenue (confirmed)', value: yen(summary.total_revenue) },
    { label: 'Orders', value: count(summary.total_orders) },
    { label: 'Confirmed', value: count(summary.confirmed_orders) },
    { label: 'Cancelled', value: count(summary.cancelled_orders) },
    { label: 'Conversion rate', value: percent(summary.conversion_rate) },
    { label: 'Average order', value: yen(summary.avg_order_value) },
    { label: 'Customers', value: count(summary.total_customers) },
    { label: 'Products ordered', value: count(summary.total_product_types) },
  ];
  return (
    <dl className="summary">
      {cards.map((card) => (
        <div key={card.label} className="card summary__card">
          <dt>{card.label}</dt>
          <dd>{card.value}</dd>
        </div>
      ))}
    </dl>
  );
}
