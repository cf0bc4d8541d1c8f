import type { DailySale } from '../api';

const DAY_MS = 86_400_000;

/** The days oldest first, with the days between them that had no orders put in as zeros:
 * the marketing service lists only days with orders, and a chart of those alone would set
 * 1 Dec beside 6 Dec as if they were consecutive. */
export function dailySeries(days: readonly DailySale[]): DailySale[] {
  const sorted = [...days].sort((a, b) => a.sale_date.localeCompare(b.sale_date));
  const series: DailySale[] = [];
  for (const sale of sorted) {
    const previous = series.at(-1);
    if (previous) {
      for (let t = Date.parse(previous.sale_date) + DAY_MS; t < Date.parse(sale.sale_date); t += DAY_MS) {
        series.push(noSales(new Date(t).toISOString().slice(0, 10)));
      }
    }
    series.push(sale);
  }
  return series;
}

function noSales(saleDate: string): DailySale {
  return {
    sale_date: saleDate,
    total_orders: 0,
    confirmed_orders: 0,
    cancelled_orders: 0,
    total_revenue: 0,
    avg_order_value: 0,
  };
}
