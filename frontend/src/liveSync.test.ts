import { QueryClient, QueryObserver } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { Order, Page } from './api';
import { applyOrderStatus, createLiveSync, nextStatus } from './liveSync';
import { queryKeys } from './queryKeys';
import { SagaStore } from './sagaStore';
import { order } from './test/fixtures';

describe('nextStatus', () => {
  it('lets a pending order finish but never un-finishes one', () => {
    expect(nextStatus('PENDING', 'CONFIRMED')).toBe('CONFIRMED');
    expect(nextStatus('CONFIRMED', 'PENDING')).toBe('CONFIRMED');
    expect(nextStatus('CANCELLED', 'PENDING')).toBe('CANCELLED');
  });
});

describe('applyOrderStatus', () => {
  const push = {
    type: 'order.status' as const,
    event_type: 'OrderCreated',
    position: 1,
    at: '2026-11-25T11:00:00Z',
  };

  it('adds a new order to the first page only, within its size', () => {
    const client = new QueryClient();
    const first: Page<Order> = { items: [order('a'), order('b')], total: 5, degraded: [] };
    const second: Page<Order> = { items: [order('c')], total: 5, degraded: [] };
    client.setQueryData(queryKeys.orders(2, 0), first);
    client.setQueryData(queryKeys.orders(2, 2), second);

    applyOrderStatus(client, { ...push, order_id: 'n', status: 'PENDING', order: order('n') });

    expect(client.getQueryData<Page<Order>>(queryKeys.orders(2, 0))?.items.map((o) => o.id)).toEqual(['n', 'a']);
    expect(client.getQueryData<Page<Order>>(queryKeys.orders(2, 0))?.total).toBe(6);
    expect(client.getQueryData<Page<Order>>(queryKeys.orders(2, 2))?.items.map((o) => o.id)).toEqual(['c']);
  });

  it('updates an order on any page and in its detail', () => {
    const client = new QueryClient();
    client.setQueryData(queryKeys.orders(2, 2), { items: [order('c')], total: 3, degraded: [] });
    client.setQueryData(queryKeys.order('c'), { ...order('c'), events: [], saga: null, saga_log: [] });

    applyOrderStatus(client, { ...push, order_id: 'c', status: 'CANCELLED', reason: 'out of stock' });

    expect(client.getQueryData<Page<Order>>(queryKeys.orders(2, 2))?.items[0].status).toBe('CANCELLED');
    expect(client.getQueryData<Order>(queryKeys.order('c'))?.cancel_reason).toBe('out of stock');
  });
});

describe('createLiveSync', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  const at = '2026-11-25T11:00:00Z';

  it('reads the order lists again after status pushes, so a fetch that was under way cannot undo one', () => {
    const client = new QueryClient();
    const key = queryKeys.orders(20, 0);
    client.setQueryData(key, { items: [order('a')], total: 1, degraded: [] });
    const live = createLiveSync(client, new SagaStore(), { waitMs: 100, maxWaitMs: 500 });
    live.handle({ type: 'order.status', event_type: 'OrderConfirmed', position: 2, at, order_id: 'a', status: 'CONFIRMED' });
    expect(client.getQueryData<Page<Order>>(key)?.items[0].status).toBe('CONFIRMED');
    // the page a fetch read before the push lands after it
    client.setQueryData(key, { items: [order('a')], total: 1, degraded: [] });
    expect(client.getQueryState(key)?.isInvalidated).toBe(false);
    vi.advanceTimersByTime(100);
    expect(client.getQueryState(key)?.isInvalidated).toBe(true);
    live.dispose();
  });

  it('lets a slow refetch land under a steady stream of pushes instead of sending it again and again', async () => {
    // Each push schedules a refresh at most 2 s later; a refresh that cancelled the fetch
    // under way (TanStack's default) meant that with answers slower than the pushes' pace
    // no fetch ever landed, and the stock and events views froze (found in review).
    const client = new QueryClient();
    let version = 0;
    const observer = new QueryObserver(client, {
      queryKey: queryKeys.products,
      queryFn: () => new Promise<number>((resolve) => setTimeout(() => resolve(++version), 2500)),
    });
    const seen: unknown[] = [];
    const unsubscribe = observer.subscribe((result) => {
      if (result.isSuccess) seen.push(result.data);
    });
    await vi.advanceTimersByTimeAsync(2500); // the first answer
    const live = createLiveSync(client, new SagaStore(), { waitMs: 400, maxWaitMs: 2000 });
    for (let n = 0; n < 40; n++) {
      live.handle({ type: 'order.status', event_type: 'OrderCreated', position: n, at, order_id: `o${n}`, status: 'PENDING' });
      await vi.advanceTimersByTimeAsync(300);
    }
    await vi.advanceTimersByTimeAsync(10_000); // the pushes stop: what is under way lands
    const landed = new Set(seen).size;
    expect(landed).toBeGreaterThanOrEqual(4); // during 12 s of pushes, and after them
    expect(client.getQueryState(queryKeys.products)?.fetchStatus).toBe('idle');
    unsubscribe();
    live.dispose();
  });

  it('reads stock again when a saga finishes: its compensation released stock after the cancel', () => {
    const client = new QueryClient();
    client.setQueryData(queryKeys.products, []);
    const live = createLiveSync(client, new SagaStore(), { waitMs: 100, maxWaitMs: 500 });
    const saga = { type: 'saga.status' as const, event_type: 'SagaResumed', at, order_id: 'a', saga_id: 's', resumed: false, reason: null };
    live.handle({ ...saga, position: 3, status: 'COMPENSATING' });
    vi.advanceTimersByTime(100);
    expect(client.getQueryState(queryKeys.products)?.isInvalidated).toBe(false);
    live.handle({ ...saga, event_type: 'SagaCompensated', position: 5, status: 'COMPENSATED' });
    vi.advanceTimersByTime(100);
    expect(client.getQueryState(queryKeys.products)?.isInvalidated).toBe(true);
    live.dispose();
  });
});
