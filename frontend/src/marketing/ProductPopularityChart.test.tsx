import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { ProductPopularityChart } from './ProductPopularityChart';

describe('product popularity', () => {
  it('says units sold and orders placed apart, since only confirmed orders sell units', () => {
    // "30 units sold in 200 orders" read as if all 200 had sold (found from outside)
    render(
      <ProductPopularityChart
        products={[
          {
            product_id: 'd4444444-4444-4444-4444-444444444444',
            product_name: '4K Monitor',
            total_order_count: 200,
            total_units_ordered: 30,
            total_revenue: 1_350_000,
            unique_customers: 150,
          },
        ]}
      />,
    );
    expect(screen.getByText('4K Monitor: 30 units sold; 200 orders placed')).toBeInTheDocument();
    expect(screen.getByRole('figure', { name: 'Product popularity' })).toBeInTheDocument();
  });

  it('counts one unit and one order in the singular', () => {
    render(
      <ProductPopularityChart
        products={[
          {
            product_id: 'd4444444-4444-4444-4444-444444444444',
            product_name: '4K Monitor',
            total_order_count: 1,
            total_units_ordered: 1,
            total_revenue: 65_000,
            unique_customers: 1,
          },
        ]}
      />,
    );
    expect(screen.getByText('4K Monitor: 1 unit sold; 1 order placed')).toBeInTheDocument();
  });
});
