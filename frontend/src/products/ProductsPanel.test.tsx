import { act, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { Product } from '../api';
import { PanelShown } from '../panelShown';
import { PRODUCTS_POLL_MS } from '../queries';
import { LAPTOP } from '../test/fixtures';
import { json, mockFetch } from '../test/mockFetch';
import { renderWithProviders } from '../test/render';
import { ProductsPanel } from './ProductsPanel';

// A restock pushes nothing (the BFF's feed carries order and saga events only): found from
// outside, stock added through the inventory API never reached an open page that read "Live".

/** The catalog, whose stock the test changes as a restock would. */
function catalog() {
  let stock: Product = LAPTOP;
  const fetch = mockFetch({ 'GET /api/products': () => json([stock]) });
  return {
    restock: (available: number) => {
      stock = { ...stock, quantity: available + stock.reserved, available };
    },
    reads: () => fetch.callsTo('GET', '/api/products').length,
  };
}

/** The catalog as the order form's product list says it. */
const shows = (available: number) =>
  screen.findByRole('option', { name: new RegExp(`\\(${available} available\\)`) });

/** The Products tab panel, shown or hidden by ``show`` as the tabs do. */
let show: (shown: boolean) => void = () => {};
function Panel() {
  const [shown, setShown] = useState(true);
  show = (value) => act(() => setShown(value));
  return (
    <PanelShown.Provider value={shown}>
      <ProductsPanel />
    </PanelShown.Provider>
  );
}

function setVisibility(state: DocumentVisibilityState) {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
}

afterEach(() => {
  vi.useRealTimers();
  Reflect.deleteProperty(document, 'visibilityState');
});

describe('the stock shown', () => {
  it('is read again when the Products tab is shown again', async () => {
    const { restock, reads } = catalog();
    renderWithProviders(<Panel />);
    await shows(48);
    show(false);
    restock(120);
    expect(reads()).toBe(1);
    show(true);
    await shows(120);
  });

  it('is read again when the page is visible again, however recently it was read', async () => {
    const { restock, reads } = catalog();
    // fresh for 5 s, as in the app: a page visible again within them still reads it
    renderWithProviders(<Panel />, {}, { staleTime: 5_000 });
    await shows(48);
    act(() => setVisibility('hidden'));
    restock(120);
    act(() => setVisibility('visible'));
    await shows(120);
    expect(reads()).toBe(2);
  });

  it('is read again every 30 s while the Products tab is shown, and not while it is hidden', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { restock, reads } = catalog();
    renderWithProviders(<Panel />);
    await shows(48);
    restock(120);
    act(() => vi.advanceTimersByTime(PRODUCTS_POLL_MS));
    await shows(120);

    show(false);
    const before = reads();
    act(() => vi.advanceTimersByTime(PRODUCTS_POLL_MS * 3));
    await waitFor(() => expect(reads()).toBe(before));
  });
});
