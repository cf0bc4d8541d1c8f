import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';

import type { CustomerStat } from '../api';
import { CUSTOMERS } from '../test/fixtures';
import { type Call, json, mockFetch } from '../test/mockFetch';
import { renderWithProviders } from '../test/render';
import { CustomersSection } from './CustomersSection';

const [SUZUKI, ABE, MORI] = CUSTOMERS;

/** The marketing service's answer per `ordering`; the table must show it as it comes. */
const PAGES: Record<string, CustomerStat[]> = {
  '-total_revenue': [ABE, MORI, SUZUKI],
  customer_name: [ABE, MORI, SUZUKI],
  '-customer_name': [SUZUKI, MORI, ABE],
  '-total_orders': [SUZUKI, MORI, ABE],
};

function marketing(total: number) {
  return mockFetch({
    'GET /api/marketing/customers': (call: Call) =>
      json(PAGES[call.url.searchParams.get('ordering') ?? ''] ?? [], 200, { 'X-Total-Count': String(total) }),
  });
}

const asked = (fetch: ReturnType<typeof mockFetch>) =>
  fetch.callsTo('GET', '/api/marketing/customers').map((c) => Object.fromEntries(c.url.searchParams));

function names() {
  return screen
    .getAllByRole('row')
    .slice(1)
    .map((row) => within(row).getByRole('rowheader').textContent);
}

const header = (name: string) => screen.getByRole('columnheader', { name: new RegExp(`^${name}`) });

describe('customers', () => {
  it('asks for the highest revenue first and shows the rows in the order they came', async () => {
    const fetch = marketing(3);
    renderWithProviders(<CustomersSection />);
    await waitFor(() => expect(names()).toEqual(['Abe', 'Mori', 'Suzuki']));
    expect(asked(fetch)).toEqual([{ ordering: '-total_revenue', limit: '50', offset: '0' }]);
    expect(header('Revenue')).toHaveAttribute('aria-sort', 'descending');
    expect(header('Customer')).toHaveAttribute('aria-sort', 'none');
    expect(within(screen.getAllByRole('row')[1]).getAllByRole('cell')[3]).toHaveTextContent('¥240,000');
    expect(screen.queryByRole('navigation', { name: 'Customer pages' })).not.toBeInTheDocument();
  });

  it('has the service sort by a clicked column, and flips it on a second click', async () => {
    const user = userEvent.setup();
    const fetch = marketing(3);
    renderWithProviders(<CustomersSection />);
    await screen.findByText('Abe');

    await user.click(screen.getByRole('button', { name: /Customer/ }));
    await waitFor(() => expect(header('Customer')).toHaveAttribute('aria-sort', 'ascending'));
    expect(header('Revenue')).toHaveAttribute('aria-sort', 'none');

    await user.click(screen.getByRole('button', { name: /Customer/ }));
    await waitFor(() => expect(names()).toEqual(['Suzuki', 'Mori', 'Abe']));
    expect(header('Customer')).toHaveAttribute('aria-sort', 'descending');

    await user.click(screen.getByRole('button', { name: /^Orders/ }));
    await waitFor(() => expect(header('Orders')).toHaveAttribute('aria-sort', 'descending'));
    expect(asked(fetch).map((q) => q.ordering)).toEqual([
      '-total_revenue',
      'customer_name',
      '-customer_name',
      '-total_orders',
    ]);
  });

  it('pages through more customers than a page holds, and a new order starts at the first page', async () => {
    const user = userEvent.setup();
    const fetch = marketing(120);
    renderWithProviders(<CustomersSection />);
    const pager = await screen.findByRole('navigation', { name: 'Customer pages' });
    expect(pager).toHaveTextContent('of 120');

    await user.click(within(pager).getByRole('button', { name: 'Next' }));
    await waitFor(() => expect(asked(fetch).at(-1)).toMatchObject({ ordering: '-total_revenue', offset: '50' }));

    await user.click(screen.getByRole('button', { name: /Customer/ }));
    await waitFor(() => expect(asked(fetch).at(-1)).toMatchObject({ ordering: 'customer_name', offset: '0' }));
  });
});
