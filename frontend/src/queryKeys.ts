import type { EventFilters } from './api';

/** Every TanStack Query key the UI uses, so live updates can find and invalidate them. */
export const queryKeys = {
  products: ['products'] as const,
  ordersAll: ['orders'] as const,
  orders: (limit: number, offset: number) => ['orders', 'list', { limit, offset }] as const,
  order: (id: string) => ['order', id] as const,
  orderAll: ['order'] as const,
  sagas: (limit: number) => ['sagas', { limit }] as const,
  saga: (orderId: string) => ['saga', orderId] as const,
  eventsAll: ['events'] as const,
  events: (filters: EventFilters) => ['events', filters] as const,
  marketingAll: ['marketing'] as const,
  marketing: (kind: 'overview' | 'products' | 'daily') => ['marketing', kind] as const,
  marketingCustomers: (ordering: string, offset: number) =>
    ['marketing', 'customers', { ordering, offset }] as const,
};

/** Page size shared by the Orders table and the Saga tab, so they share one cache entry. */
export const ORDERS_PAGE_SIZE = 20;
