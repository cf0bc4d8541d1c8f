/**
 * What a websocket message does to the UI's caches. Status changes are written straight
 * into the cached order lists (instant badges); everything derived from them (events,
 * marketing, stock, order details) is invalidated and refetched, debounced so a burst
 * of pushes costs one refetch.
 */
import type { QueryClient, QueryKey } from '@tanstack/react-query';

import type { LiveMessage, Order, OrderDetail, OrderStatusMessage, Page } from './api';
import { queryKeys } from './queryKeys';
import { type SagaStore, isSagaFinished } from './sagaStore';

const TERMINAL: readonly string[] = ['CONFIRMED', 'CANCELLED'];

/** A push may arrive late or twice: a finished order never goes back to PENDING. */
export function nextStatus(current: Order['status'], pushed: Order['status']): Order['status'] {
  if (TERMINAL.includes(current) && !TERMINAL.includes(pushed)) return current;
  return pushed;
}

function withStatus<T extends Order>(order: T, message: OrderStatusMessage): T {
  const status = nextStatus(order.status, message.status);
  if (status === order.status) return order;
  return {
    ...order,
    status,
    cancel_reason: message.reason ?? order.cancel_reason,
    updated_at: message.at,
  };
}

function isFirstPage(key: QueryKey): boolean {
  const params = key[2] as { offset?: number } | undefined;
  return params?.offset === 0;
}

/** Apply one `order.status` push to every cached order list page and the order's detail. */
export function applyOrderStatus(client: QueryClient, message: OrderStatusMessage): void {
  const lists = client.getQueriesData<Page<Order>>({ queryKey: [...queryKeys.ordersAll, 'list'] });
  const known = lists.some(([, page]) => page?.items.some((o) => o.id === message.order_id));
  for (const [key, page] of lists) {
    if (!page) continue;
    if (page.items.some((o) => o.id === message.order_id)) {
      client.setQueryData<Page<Order>>(key, {
        ...page,
        items: page.items.map((o) => (o.id === message.order_id ? withStatus(o, message) : o)),
      });
    } else if (!known && message.order && isFirstPage(key)) {
      const order: Order = {
        created_at: message.at,
        updated_at: message.at,
        ...message.order,
        id: message.order_id,
        status: message.status,
      };
      const limit = (key[2] as { limit?: number } | undefined)?.limit ?? page.items.length + 1;
      client.setQueryData<Page<Order>>(key, {
        ...page,
        items: [order, ...page.items].slice(0, limit),
        total: page.total === null ? null : page.total + 1,
      });
    }
  }
  client.setQueryData<OrderDetail>(queryKeys.order(message.order_id), (detail) =>
    detail ? withStatus(detail, message) : detail,
  );
}

/** Merge a snapshot's orders into the first list page (statuses only move forward). */
function applySnapshotOrders(client: QueryClient, orders: Order[]): void {
  const byId = new Map(orders.map((o) => [o.id, o]));
  for (const [key, page] of client.getQueriesData<Page<Order>>({
    queryKey: [...queryKeys.ordersAll, 'list'],
  })) {
    if (!page) continue;
    client.setQueryData<Page<Order>>(key, {
      ...page,
      items: page.items.map((o) => {
        const fresh = byId.get(o.id);
        return fresh ? { ...o, ...fresh, status: nextStatus(o.status, fresh.status) } : o;
      }),
    });
  }
}

interface Debounced {
  (): void;
  cancel(): void;
}

/** Trailing debounce that still fires at least every `maxWaitMs` under a steady stream. */
export function debounce(fn: () => void, waitMs: number, maxWaitMs: number): Debounced {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let firstCall: number | null = null;
  const fire = () => {
    timer = null;
    firstCall = null;
    fn();
  };
  const debounced = () => {
    const now = Date.now();
    firstCall ??= now;
    if (timer !== null) clearTimeout(timer);
    const wait = Math.max(0, Math.min(waitMs, firstCall + maxWaitMs - now));
    timer = setTimeout(fire, wait);
  };
  debounced.cancel = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    firstCall = null;
  };
  return debounced;
}

/**
 * Invalidate ``queryKey`` without cancelling a fetch under way. TanStack's default cancels
 * it and sends it again: under a steady stream of pushes, with answers slower than their
 * pace, no fetch ever landed and the views froze. A fetch that was under way may have read
 * before the push, so once it has landed the queries are invalidated once more.
 */
function refresh(client: QueryClient, queryKey: QueryKey): void {
  const running = client.isFetching({ queryKey }) > 0;
  void client.invalidateQueries({ queryKey }, { cancelRefetch: false }).then(() => {
    if (running) void client.invalidateQueries({ queryKey }, { cancelRefetch: false });
  });
}

export interface LiveSync {
  handle(message: LiveMessage): void;
  dispose(): void;
}

export function createLiveSync(
  client: QueryClient,
  sagas: SagaStore,
  {
    waitMs = 400,
    maxWaitMs = 2000,
    lateMs = 2500,
  }: { waitMs?: number; maxWaitMs?: number; lateMs?: number } = {},
): LiveSync {
  const staleOrders = new Set<string>();
  const refreshEvents = debounce(() => refresh(client, queryKeys.eventsAll), waitMs, maxWaitMs);
  const refreshReadModels = debounce(
    () => {
      refresh(client, queryKeys.marketingAll);
      refresh(client, queryKeys.products);
    },
    waitMs,
    maxWaitMs,
  );
  // The marketing worker folds the same events from Redis on its own schedule, so a refetch
  // right after a push can still read the old totals: ask once more a little later.
  const refreshMarketingLate = debounce(
    () => refresh(client, queryKeys.marketingAll),
    lateMs,
    lateMs * 2,
  );
  // A list fetch under way when a push came can land after it with what it read before,
  // undoing the push in the cache: once the pushes settle, the lists are read again (and
  // once more after a fetch that was under way, see refresh).
  const refreshOrderLists = debounce(
    () => refresh(client, [...queryKeys.ordersAll, 'list']),
    waitMs,
    maxWaitMs,
  );
  const refreshOrders = debounce(
    () => {
      const ids = [...staleOrders];
      staleOrders.clear();
      for (const id of ids) refresh(client, queryKeys.order(id));
    },
    waitMs,
    maxWaitMs,
  );

  const handle = (message: LiveMessage): void => {
    switch (message.type) {
      case 'snapshot':
        // A (re)connect: whatever was pushed while we were away is in the snapshot or
        // in a refetch. Everything is invalidated; active queries refetch now.
        if (message.orders) applySnapshotOrders(client, message.orders);
        sagas.reconnected();
        void client.invalidateQueries();
        break;
      case 'order.status':
        applyOrderStatus(client, message);
        staleOrders.add(message.order_id);
        refreshOrders();
        refreshOrderLists();
        refreshReadModels();
        refreshMarketingLate();
        refreshEvents();
        break;
      case 'saga.step':
        sagas.step(message);
        refreshEvents();
        break;
      case 'saga.status':
        sagas.status(message);
        if (isSagaFinished(message.status) || message.resumed) {
          staleOrders.add(message.order_id);
          refreshOrders();
        }
        // A compensation releases stock after the order's cancel was pushed, and the BFF
        // pushes nothing of inventory's: the saga's end is when stock has settled.
        if (isSagaFinished(message.status)) refreshReadModels();
        refreshEvents();
        break;
      default:
        break;
    }
  };

  return {
    handle,
    dispose() {
      refreshEvents.cancel();
      refreshReadModels.cancel();
      refreshMarketingLate.cancel();
      refreshOrders.cancel();
      refreshOrderLists.cancel();
    },
  };
}
