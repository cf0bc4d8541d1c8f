import { describe, expect, it } from 'vitest';

import type { DailySale } from '../api';
import { dailySeries } from './dailySeries';

function sale(saleDate: string, orders: number): DailySale {
  return {
    sale_date: saleDate,
    total_orders: orders,
    confirmed_orders: orders,
    cancelled_orders: 0,
    total_revenue: orders * 1000,
    avg_order_value: 1000,
  };
}

describe('dailySeries', () => {
  it('puts in the days without orders between those listed, oldest first', () => {
    // found in review: the chart set days with sales side by side as if consecutive
    const series = dailySeries([sale('2026-12-06', 2), sale('2026-11-29', 1), sale('2026-12-01', 3)]);
    expect(series.map((d) => [d.sale_date, d.total_orders])).toEqual([
      ['2026-11-29', 1],
      ['2026-11-30', 0],
      ['2026-12-01', 3],
      ['2026-12-02', 0],
      ['2026-12-03', 0],
      ['2026-12-04', 0],
      ['2026-12-05', 0],
      ['2026-12-06', 2],
    ]);
    expect(series[1].total_revenue).toBe(0);
  });

  it('leaves a single day or none as it is', () => {
    expect(dailySeries([])).toEqual([]);
    expect(dailySeries([sale('2026-12-06', 2)])).toEqual([sale('2026-12-06', 2)]);
  });
});
