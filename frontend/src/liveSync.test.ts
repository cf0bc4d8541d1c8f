import { QueryClient } from '@tanstack/react-query';
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
