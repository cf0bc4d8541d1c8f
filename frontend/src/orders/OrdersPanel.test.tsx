import { screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { ConnectionBadge } from '../components/ConnectionBadge';
import { COMPENSATED_LOG, EVENT, order } from '../test/fixtures';
import { json, mockFetch } from '../test/mockFetch';
import { PARTIAL_RETRY_MS } from '../queries';
import { renderWithProviders } from '../test/render';
import { OrdersPanel } from './OrdersPanel';

const A = '11111111-aaaa-4aaa-8aaa-000000000001';
const B = '22222222-bbbb-4bbb-8bbb-000000000002';
const NEW = '33333333-cccc-4ccc-8ccc-000000000003';

function setup(liveOptions = {}) {
  const fetch = mockFetch({
    'GET /api/orders': json([order(A, { customer_name: 'Abe' }), order(B, { status: 'CONFIRMED' })], 200, {
      'X-Total-Count': '2',
    }),
    [`GET /api/orders/${A}`]: json({
      ...order(A, { customer_name: 'Abe', status: 'CANCELLED', cancel_reason: 'insufficient stock' }),
      events: [EVENT],
      saga: null,
      saga_log: COMPENSATED_LOG,
      degraded: [],
    }),
  });
  const rendered = renderWithProviders(
    <>
      <ConnectionBadge />
      <OrdersPanel />
    </>,
    liveOptions,
  );
  return { ...rendered, fetch };
}

describe('orders table', () => {
  it('updates a status badge from an order.status push', async () => {
    const { last } = setup();
    expect(await screen.findByTestId(`status-${A}`)).toHaveTextContent('PENDING');

    const socket = last();
    socket.open();
    socket.receive({ type: 'snapshot', orders: [] });
    await waitFor(() => expect(screen.getByTestId('connection-state')).toHaveTextContent('Live'));

    socket.receive({
      type: 'order.status',
      order_id: A,
      status: 'CONFIRMED',
      event_type: 'OrderConfirmed',
      position: 12,
      at: '2026-11-25T10:00:01Z',
    });
    await waitFor(() => expect(screen.getByTestId(`status-${A}`)).toHaveTextContent('CONFIRMED'));

    // A late duplicate of the creation cannot take a finished order back to PENDING.
    socket.receive({
      type: 'order.status',
      order_id: A,
      status: 'PENDING',
      event_type: 'OrderCreated',
      position: 11,
      at: '2026-11-25T10:00:00Z',
    });
    expect(screen.getByTestId(`status-${A}`)).toHaveTextContent('CONFIRMED');
  });

  it('adds a row for an order it has not seen', async () => {
    const { last } = setup();
    await screen.findByTestId(`status-${A}`);
    const socket = last();
    socket.open();
    socket.receive({
      type: 'order.status',
      order_id: NEW,
      status: 'PENDING',
      event_type: 'OrderCreated',
      position: 13,
      at: '2026-11-25T10:05:00Z',
      order: {
        id: NEW,
        status: 'PENDING',
        customer_name: 'Newcomer',
        product_id: 'b2222222-2222-2222-2222-222222222222',
        product_name: 'Wireless Mouse',
        quantity: 2,
        total_price: 7000,
      },
    });
    const badge = await screen.findByTestId(`status-${NEW}`);
    expect(badge).toHaveTextContent('PENDING');
    const rows = screen.getAllByRole('row').slice(1);
    expect(rows[0]).toHaveTextContent('Newcomer');
    expect(rows).toHaveLength(3);
    expect(screen.getByText('1–3 of 3')).toBeInTheDocument();
  });

  it('refetches after a reconnect', async () => {
    const { last, sockets, fetch } = setup();
    await screen.findByTestId(`status-${A}`);
    last().open();
    const before = fetch.callsTo('GET', '/api/orders').length;

    last().drop();
    await waitFor(() => expect(screen.getByTestId('connection-state')).toHaveTextContent('Reconnecting…'));
    await waitFor(() => expect(sockets).toHaveLength(2));
    last().open();
    last().receive({ type: 'snapshot', orders: [order(A, { status: 'CANCELLED' })] });

    await waitFor(() => expect(fetch.callsTo('GET', '/api/orders').length).toBeGreaterThan(before));
    expect(screen.getByTestId('connection-state')).toHaveTextContent('Live');
  });

  it('says updates stalled while the feed is silent, and refetches once it is heard again', async () => {
    // found from outside: through a Redis outage the badge said Live, and the page stayed stale
    const { last, sockets, fetch, live } = setup({ heartbeatIntervalMs: 100 });
    await screen.findByTestId(`status-${A}`);
    last().open();
    last().receive({ type: 'snapshot', orders: [] });
    last().receiveRaw(JSON.stringify([{ type: 'heartbeat', seq: 4, feed: 'f1' }]));
    await waitFor(() => expect(screen.getByTestId('connection-state')).toHaveTextContent('Live'));
    const before = fetch.callsTo('GET', '/api/orders').length;

    await waitFor(() => expect(screen.getByTestId('connection-state')).toHaveTextContent('Updates stalled'));
    await waitFor(() => expect(sockets).toHaveLength(2));
    last().open();
    last().receive({ type: 'snapshot', orders: [order(A, { status: 'CANCELLED' })] });
    expect(live.getState()).toBe('stalled'); // a snapshot is not a feed heard
    last().receiveRaw(JSON.stringify([{ type: 'heartbeat', seq: 9, feed: 'f1' }]));
    await waitFor(() => expect(screen.getByTestId('connection-state')).toHaveTextContent('Live'));
    await waitFor(() => expect(fetch.callsTo('GET', '/api/orders').length).toBeGreaterThan(before));
  });

  it('opens an order with its events and saga steps', async () => {
    const { user } = setup();
    await user.click(await screen.findByText('Abe'));
    const detail = await screen.findByRole('region', { name: /Order 11111111/ });
    expect(await within(detail).findByText('OrderConfirmed')).toBeInTheDocument();
    expect(within(detail).getByText('insufficient stock')).toBeInTheDocument();
    const steps = within(detail).getByRole('list', { name: /Saga steps/ });
    expect(within(steps).getAllByRole('listitem')).toHaveLength(3);
    expect(within(steps).getByText('CancelOrder (COMPENSATING)')).toBeInTheDocument();
    await user.click(within(detail).getByRole('button', { name: 'Close' }));
    expect(screen.queryByRole('region', { name: /Order 11111111/ })).not.toBeInTheDocument();
  });

  it('shows the saga steps of an open order as they are pushed', async () => {
    mockFetch({
      'GET /api/orders': json([order(B, { customer_name: 'Baba' })], 200, { 'X-Total-Count': '1' }),
      [`GET /api/orders/${B}`]: json({
        ...order(B, { customer_name: 'Baba' }),
        events: [],
        saga: null,
        saga_log: [COMPENSATED_LOG[0]],
        degraded: [],
      }),
    });
    const { user, last } = renderWithProviders(<OrdersPanel />);
    await user.click(await screen.findByText('Baba'));
    const detail = await screen.findByRole('region', { name: /Order 22222222/ });
    const steps = await within(detail).findByRole('list', { name: /Saga steps/ });
    expect(within(steps).getAllByRole('listitem')).toHaveLength(1);
    last().open();
    last().receive({
      type: 'saga.step', order_id: B, saga_id: 's', step: 2, action: 'ReserveInventory',
      compensating: false, status: 'STARTED', message: 'reserving', error: null, duration_ms: null,
      attempts: 1, event_type: 'StepStarted', position: 30, at: '2026-11-25T10:00:01Z',
    });
    await waitFor(() => expect(within(steps).getAllByRole('listitem')).toHaveLength(2));
    expect(within(steps).getByText('ReserveInventory')).toBeInTheDocument();
  });
});

describe('an order read while a service was down', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('says its saga steps are unavailable, not that none were recorded, and reads them again', async () => {
    // found from outside: "Partial data: saga-service did not answer" over "No saga steps
    // recorded yet", and so it stayed after the saga service was back
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let sagaUp = false;
    mockFetch({
      'GET /api/orders': json([order(A, { customer_name: 'Abe' })], 200, { 'X-Total-Count': '1' }),
      [`GET /api/orders/${A}`]: () =>
        json({
          ...order(A, { customer_name: 'Abe' }),
          events: [EVENT],
          saga: null,
          saga_log: sagaUp ? COMPENSATED_LOG : [],
          degraded: sagaUp ? [] : ['saga-service'],
        }),
    });
    const { user } = renderWithProviders(<OrdersPanel />);
    await user.click(await screen.findByText('Abe'));
    const detail = await screen.findByRole('region', { name: /Order 11111111/ });
    expect(await within(detail).findByText('Partial data: saga-service did not answer.')).toBeInTheDocument();
    expect(within(detail).getByText(/^Unavailable: saga-service did not answer\./)).toBeInTheDocument();
    expect(within(detail).queryByText('No saga steps recorded yet.')).not.toBeInTheDocument();
    // the product's name sits in a line with the count: isolated, should it be right-to-left
    expect(within(detail).getByText('Laptop').tagName).toBe('BDI');

    sagaUp = true;
    vi.advanceTimersByTime(PARTIAL_RETRY_MS);
    const steps = await within(detail).findByRole('list', { name: /Saga steps/ });
    expect(within(steps).getAllByRole('listitem')).toHaveLength(3);
    expect(within(detail).queryByText(/Partial data/)).not.toBeInTheDocument();
  });
});
