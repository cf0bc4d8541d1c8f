/** TanStack Query hooks: every fetch the UI makes goes through one of these. */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';

import { type EventFilters, api } from './api';
import { usePanelShown } from './panelShown';
import { queryKeys } from './queryKeys';
import { isSagaFinished } from './sagaStore';

// Stock follows orders live (a push about an order refetches it), but a restock through the
// inventory API or its admin pushes nothing: the BFF's feed carries order and saga events
// only. So the catalog is read again when its tab is shown again, when the page is visible
// again, and at this pace while its tab is shown.
export const PRODUCTS_POLL_MS = 30_000;

export function useProducts() {
  const shown = usePanelShown();
  const products = useQuery({
    queryKey: queryKeys.products,
    queryFn: api.products,
    refetchInterval: shown ? PRODUCTS_POLL_MS : false,
    // however fresh it is: a restock a second ago is news
    refetchOnWindowFocus: shown ? 'always' : false,
  });
  useRefetchWhenShownAgain(shown, products.refetch);
  return products;
}

/** Read again when the tab panel it is in is shown again (panels are kept, hidden). */
function useRefetchWhenShownAgain(shown: boolean, refetch: (options: { cancelRefetch: boolean }) => unknown) {
  const wasShown = useRef(shown);
  useEffect(() => {
    if (shown && !wasShown.current) void refetch({ cancelRefetch: false });
    wasShown.current = shown;
  }, [shown, refetch]);
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

// An order read while a service behind the BFF was down lacks that service's part (its saga
// steps, say, named in `degraded`), and no push says when the service is back: it is read
// again at this pace until it is whole.
export const PARTIAL_RETRY_MS = 5_000;

// An order whose outcome is unknown is read again at this pace while it is PENDING, not
// there, or could not be read: the push that would say what became of it may have been
// missed without a reconnect.
export const UNSETTLED_POLL_MS = 5_000;

/** ``untilSettled``: read again (at ``UNSETTLED_POLL_MS``) while it is PENDING, not there
 * (it may still be created) or could not be read (found from outside: after one 503 it was
 * never read again). */
export function useOrder(id: string | null, { untilSettled = false } = {}) {
  return useQuery({
    queryKey: queryKeys.order(id ?? ''),
    queryFn: () => api.order(id ?? ''),
    enabled: !!id,
    refetchInterval: (query) => {
      const { data, error } = query.state;
      if (data?.degraded?.length) return PARTIAL_RETRY_MS;
      const unsettled = data ? data.status === 'PENDING' : error !== null;
      return untilSettled && unsettled ? UNSETTLED_POLL_MS : false;
    },
  });
}

/** The saga of an order, read again (at ``UNSETTLED_POLL_MS``) until it has ended. */
export function useSagaUntilEnded(orderId: string | null) {
  return useQuery({
    queryKey: queryKeys.saga(orderId ?? ''),
    queryFn: () => api.saga(orderId ?? ''),
    enabled: !!orderId,
    refetchInterval: (query) => (isSagaFinished(query.state.data?.status) ? false : UNSETTLED_POLL_MS),
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
