import { screen, waitFor } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';

import { App } from './App';
import { json, mockFetch } from './test/mockFetch';
import { renderWithProviders } from './test/render';

beforeEach(() => {
  mockFetch({
    'GET /api/products': json([]),
    'GET /api/orders': json([], 200, { 'X-Total-Count': '0' }),
    'GET /api/events': json([], 200, { 'X-Total-Count': '0' }),
  });
});

describe('tabs', () => {
  it('has the five tabs, Products selected', () => {
    renderWithProviders(<App />);
    const tabs = screen.getAllByRole('tab');
    expect(tabs.map((t) => t.textContent)).toEqual(['Products', 'Orders', 'Saga', 'Marketing', 'Events']);
    expect(screen.getByRole('tab', { name: 'Products' })).toHaveAttribute('aria-selected', 'true');
    expect(screen.getByRole('tabpanel', { name: 'Products' })).toBeVisible();
    // Only the selected tab is in the tab order.
    expect(tabs.map((t) => t.tabIndex)).toEqual([0, -1, -1, -1, -1]);
  });

  it('moves with the arrow keys, Home and End, wrapping around', async () => {
    const { user } = renderWithProviders(<App />);
    const tab = (name: string) => screen.getByRole('tab', { name });

    await user.click(tab('Products'));
    await user.keyboard('{ArrowRight}');
    expect(tab('Orders')).toHaveFocus();
    expect(tab('Orders')).toHaveAttribute('aria-selected', 'true');
    expect(tab('Products')).toHaveAttribute('aria-selected', 'false');
    expect(screen.getByRole('tabpanel', { name: 'Orders' })).toBeVisible();
    expect(screen.getByRole('heading', { name: 'Order history' })).toBeVisible();

    await user.keyboard('{ArrowRight}');
    expect(tab('Saga')).toHaveFocus();
    await user.keyboard('{End}');
    expect(tab('Events')).toHaveFocus();
    expect(tab('Events')).toHaveAttribute('aria-selected', 'true');
    await user.keyboard('{ArrowRight}');
    expect(tab('Products')).toHaveFocus();
    await user.keyboard('{ArrowLeft}');
    expect(tab('Events')).toHaveFocus();
    await user.keyboard('{Home}');
    expect(tab('Products')).toHaveFocus();
    expect(tab('Products')).toHaveAttribute('aria-selected', 'true');
    expect(tab('Products')).toHaveAttribute('tabindex', '0');
    expect(tab('Events')).toHaveAttribute('tabindex', '-1');
  });

  it('keeps a visited panel mounted but hidden', async () => {
    const { user } = renderWithProviders(<App />);
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.click(screen.getByRole('tab', { name: 'Events' }));
    expect(screen.getByLabelText('Customer name', { selector: 'input' })).not.toBeVisible();
    await user.click(screen.getByRole('tab', { name: 'Products' }));
    expect(screen.getByLabelText('Customer name')).toHaveValue('Sato');
  });

  it('shows the connection state in the header', async () => {
    const { last } = renderWithProviders(<App />);
    const badge = screen.getByTestId('connection-state');
    expect(badge).toHaveTextContent('Connecting…');
    last().open();
    await waitFor(() => expect(badge).toHaveTextContent('Live'));
    last().drop();
    await waitFor(() => expect(badge).toHaveTextContent('Reconnecting…'));
  });
});
