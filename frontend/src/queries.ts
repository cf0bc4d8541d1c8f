/** TanStack Query hooks: every fetch the UI makes goes through one of these. */
import { keepPreviousData, useQuery } from '@tanstack/react-query';

import { type EventFilters, api } from './api';
import { usePanelShown } from './panelShown';
import { queryKeys } from './queryKeys';

export function useProducts() {
  return useQuery({ queryKey: queryKeys.products, queryFn: api.products });
}

export function useOrders(limit: number, offset: number) {
  return useQuery({
    queryKey: queryKeys.orders(limit, offset),
    queryFn: () => api.orders({ limit, offset }),
    placeholderData: keepPreviousData,
  });
}

export function useSagas(limit: number) {
  return useQuery({
    queryKey: queryKeys.sagas(limit),
    queryFn: () => api.sagas({ limit, offset: 0 }),
    placeholderData: keepPreviousData,
  });
}

export function useOrder(id: string | null) {
  return useQuery({
    queryKey: queryKeys.order(id ?? ''),
    queryFn: () => api.order(id ?? ''),
    enabled: !!id,
  });
}

export function useEvents(filters: EventFilters) {
  return useQuery({
    queryKey: queryKeys.events(filters),
    queryFn: () => api.events(filters),
    placeholderData: keepPreviousData,
  });
}

// Marketing is eventually consistent (its own worker); pushes trigger refetches, and a slow
// poll catches anything that landed after them.
const MARKETING_POLL_MS = 15_000;

function useMarketing<T>(kind: 'overview' | 'products' | 'daily', fetch: () => Promise<T>) {
  const shown = usePanelShown();
  return useQuery({
    queryKey: queryKeys.marketing(kind),
    queryFn: fetch,
    // only while its tab is shown; pushes still refresh it when hidden
    refetchInterval: shown ? MARKETING_POLL_MS : false,
  });
}

/** Customers by page, sorted by the marketing service (there may be many more than a page). */
export function useMarketingCustomers(ordering: string, offset: number) {
  const shown = usePanelShown();
  return useQuery({
    queryKey: queryKeys.marketingCustomers(ordering, offset),
    queryFn: () => api.marketingCustomers({ ordering, limit: CUSTOMERS_PAGE_SIZE, offset }),
    placeholderData: keepPreviousData,
    refetchInterval: shown ? MARKETING_POLL_MS : false,
  });
}

export const CUSTOMERS_PAGE_SIZE = 50;

export const useMarketingOverview = () => useMarketing('overview', api.marketingOverview);
export const useMarketingProducts = () => useMarketing('products', api.marketingProducts);
export const useMarketingDaily = () => useMarketing('daily', () => api.marketingDaily(30));
