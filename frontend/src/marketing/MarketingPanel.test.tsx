import { act, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { PanelShown } from '../panelShown';
import { json, mockFetch } from '../test/mockFetch';
import { renderWithProviders } from '../test/render';
import MarketingPanel from './MarketingPanel';

describe('marketing panel', () => {
  it('shows each failed part with a Retry, and no endless Loading beside the error', async () => {
    const down = json({ detail: 'marketing-service did not answer', code: 'service_unavailable' }, 503);
    mockFetch({
      'GET /api/marketing/overview': down,
      'GET /api/marketing/products': down,
      'GET /api/marketing/daily': down,
      'GET /api/marketing/customers': down,
    });
    renderWithProviders(<MarketingPanel />);
    for (const what of ['the overview', 'product popularity', 'daily sales', 'customers']) {
      expect(await screen.findByText(`Could not load ${what}`)).toBeInTheDocument();
    }
    expect(screen.getAllByRole('button', { name: 'Retry' })).toHaveLength(4);
    expect(screen.queryByText('Loading…')).not.toBeInTheDocument();
  });

  afterEach(() => vi.useRealTimers());

  it.each([
    [true, 2],
    [false, 1],
  ])('polls every 15 s only while its tab is shown (shown: %s)', async (shown, fetches) => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const fetch = mockFetch({
      'GET /api/marketing/overview': json({ summary: {}, top_customers: [], top_products: [] }),
      'GET /api/marketing/products': json([]),
      'GET /api/marketing/daily': json([]),
      'GET /api/marketing/customers': json([]),
    });
    renderWithProviders(
      <PanelShown.Provider value={shown}>
        <MarketingPanel />
      </PanelShown.Provider>,
    );
    await vi.waitFor(() => expect(fetch.callsTo('GET', '/api/marketing/overview')).toHaveLength(1));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(16_000);
    });
    expect(fetch.callsTo('GET', '/api/marketing/overview')).toHaveLength(fetches);
  });
});
