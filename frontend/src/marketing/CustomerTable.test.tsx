import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';

import { CUSTOMERS } from '../test/fixtures';
import { CustomerTable } from './CustomerTable';

function names() {
  return screen
    .getAllByRole('row')
    .slice(1)
    .map((row) => within(row).getByRole('rowheader').textContent);
}

const header = (name: string) => screen.getByRole('columnheader', { name: new RegExp(`^${name}`) });

describe('customer table', () => {
  it('sorts by revenue, highest first, to begin with', () => {
    render(<CustomerTable customers={CUSTOMERS} />);
    expect(names()).toEqual(['Abe', 'Mori', 'Suzuki']);
    expect(header('Revenue')).toHaveAttribute('aria-sort', 'descending');
    expect(header('Customer')).toHaveAttribute('aria-sort', 'none');
    expect(within(screen.getAllByRole('row')[1]).getAllByRole('cell')[3]).toHaveTextContent('¥240,000');
  });

  it('sorts by a column when its header is clicked, and flips on a second click', async () => {
    const user = userEvent.setup();
    render(<CustomerTable customers={CUSTOMERS} />);

    await user.click(screen.getByRole('button', { name: /Customer/ }));
    expect(header('Customer')).toHaveAttribute('aria-sort', 'ascending');
    expect(header('Revenue')).toHaveAttribute('aria-sort', 'none');
    expect(names()).toEqual(['Abe', 'Mori', 'Suzuki']);

    await user.click(screen.getByRole('button', { name: /Customer/ }));
    expect(header('Customer')).toHaveAttribute('aria-sort', 'descending');
    expect(names()).toEqual(['Suzuki', 'Mori', 'Abe']);

    await user.click(screen.getByRole('button', { name: /^Orders/ }));
    expect(header('Orders')).toHaveAttribute('aria-sort', 'descending');
    expect(names()).toEqual(['Suzuki', 'Mori', 'Abe']);

    await user.click(screen.getByRole('button', { name: /^Cancelled/ }));
    await user.click(screen.getByRole('button', { name: /^Cancelled/ }));
    expect(header('Cancelled')).toHaveAttribute('aria-sort', 'ascending');
    expect(names()).toEqual(['Abe', 'Mori', 'Suzuki']);
  });
});
