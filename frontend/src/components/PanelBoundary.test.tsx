import { render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import { Tabs } from './Tabs';

function Broken(): never {
  // as a lazy panel whose code could not be loaded (a redeploy, the BFF restarting)
  throw new TypeError('Failed to fetch dynamically imported module: /assets/Marketing-1.js');
}

describe('a panel that fails to render', () => {
  it('shows a notice in its place and leaves the tabs and the other panels alone', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {}); // React reports the error
    const tabs = [
      { id: 'products', label: 'Products', render: () => <p>the shop</p> },
      { id: 'marketing', label: 'Marketing', render: () => <Broken /> },
    ];
    const { rerender } = render(<Tabs label="Sections" tabs={tabs} selected="products" onSelect={() => {}} />);
    rerender(<Tabs label="Sections" tabs={tabs} selected="marketing" onSelect={() => {}} />);
    expect(screen.getByRole('tablist')).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent('This section could not be shown');
    expect(screen.getByRole('button', { name: 'Reload the page' })).toBeVisible();
    rerender(<Tabs label="Sections" tabs={tabs} selected="products" onSelect={() => {}} />);
    expect(screen.getByText('the shop')).toBeVisible();
  });
});
