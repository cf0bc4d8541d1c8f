import { render, screen } from '@testing-library/react';
import { type ReactElement, cloneElement } from 'react';
import { describe, expect, it, vi } from 'vitest';

import { contrast } from '../test/contrast';
import { DailySalesChart } from './DailySalesChart';
import { ProductPopularityChart } from './ProductPopularityChart';

// jsdom has no layout, so a ResponsiveContainer draws nothing: the charts get a fixed size.
vi.mock('recharts', async (original) => ({
  ...(await original<typeof import('recharts')>()),
  ResponsiveContainer: ({ children }: { children: ReactElement<{ width?: number; height?: number }> }) =>
    cloneElement(children, { width: 600, height: 300 }),
}));

/** The colour a legend label's text is drawn in: its innermost element's. */
function textColour(label: string): string {
  return screen.getByText(label).style.color;
}

function renderBoth() {
  return render(
    <>
      <ProductPopularityChart
        products={[
          { product_id: 'p', product_name: 'Laptop', total_order_count: 3, total_units_ordered: 2, total_revenue: 1, unique_customers: 1 },
        ]}
      />
      <DailySalesChart
        days={[
          { sale_date: '2026-11-25', total_orders: 3, confirmed_orders: 2, cancelled_orders: 1, total_revenue: 9000, avg_order_value: 4500 },
        ]}
      />
    </>,
  );
}

// found from outside: "Orders placed (all)" read 2.18:1 and "Orders" 2.93:1 on white, in
// their series' colours; text needs 4.5:1
describe('chart legends', () => {
  it('are readable on the white card (4.5:1)', () => {
    renderBoth();
    for (const label of ['Units sold (confirmed)', 'Orders placed (all)', 'Revenue', 'Orders'])
      expect(contrast(textColour(label), '#ffffff'), label).toBeGreaterThanOrEqual(4.5);
  });
});

// found from outside: the pale "Orders placed" bars were 2.18:1 and the "Orders" line 2.93:1
// on white; a graphic that carries the data needs 3:1 (WCAG 1.4.11)
describe('chart series', () => {
  it('stand out from the white card (3:1)', () => {
    const { container } = renderBoth();
    const drawn = [...container.querySelectorAll('.recharts-legend-item path, .recharts-legend-item line')]
      .flatMap((icon) => [icon.getAttribute('fill'), icon.getAttribute('stroke')])
      .filter((colour): colour is string => !!colour && colour !== 'none');
    expect(drawn.length).toBeGreaterThanOrEqual(4);
    for (const colour of drawn) expect(contrast(colour, '#ffffff'), colour).toBeGreaterThanOrEqual(3);
  });
});
