import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

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
});
