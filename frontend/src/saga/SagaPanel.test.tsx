import { act, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import type { SagaStatusMessage, SagaStepMessage } from '../api';
import { order } from '../test/fixtures';
import { json, mockFetch } from '../test/mockFetch';
import { renderWithProviders } from '../test/render';
import { SagaPanel } from './SagaPanel';

const ID = '44444444-dddd-4ddd-8ddd-000000000004';
const SAGA = '55555555-eeee-4eee-8eee-000000000005';

function step(n: number, action: string, status: string, position: number, extra: Partial<SagaStepMessage> = {}) {
  return {
    type: 'saga.step',
    order_id: ID,
    saga_id: SAGA,
    step: n,
    action,
    compensating: action.endsWith('(COMPENSATING)'),
    status,
    message: '',
    error: null,
    duration_ms: status === 'STARTED' ? null : 12.5,
    attempts: status === 'STARTED' ? null : 1,
    event_type: status === 'STARTED' ? 'StepStarted' : 'StepSucceeded',
    position,
    at: `2026-11-25T10:00:0${n}Z`,
    ...extra,
  } satisfies SagaStepMessage;
}

function sagaStatus(status: string | null, position: number, resumed = false): SagaStatusMessage {
  return {
    type: 'saga.status',
    order_id: ID,
    saga_id: SAGA,
    status,
    resumed,
    reason: status === 'COMPENSATED' ? 'insufficient stock' : null,
    event_type: 'SagaStarted',
    position,
    at: '2026-11-25T10:00:00Z',
  };
}

/** The panel on an empty order list, its socket open; ``ID``'s detail has no saga yet. */
async function panelWithNoOrdersYet() {
  const fetch = mockFetch({
    'GET /api/orders': json([], 200, { 'X-Total-Count': '0' }),
    [`GET /api/orders/${ID}`]: json({ ...order(ID), events: [], saga: null, saga_log: [] }),
  });
  const { last } = renderWithProviders(<SagaPanel />);
  await screen.findByText(/No sagas yet/);
  last().open();
  return { fetch, last };
}

describe('saga timeline', () => {
  it('builds a saga from pushes over the detail endpoint, marking compensation and resumption', async () => {
    mockFetch({
      'GET /api/orders': json([order(ID, { customer_name: 'Kato' })], 200, { 'X-Total-Count': '1' }),
      [`GET /api/orders/${ID}`]: json({
        ...order(ID, { customer_name: 'Kato' }),
        events: [],
        saga: {
          order_id: ID,
          saga_id: SAGA,
          success: false,
          status: 'RUNNING',
          reason: null,
          resumed: false,
          saga_log: [{ step: 1, action: 'CreateOrder', status: 'COMPLETED', error: null, duration_ms: 20 }],
        },
        saga_log: [{ step: 1, action: 'CreateOrder', status: 'COMPLETED', error: null, duration_ms: 20 }],
      }),
    });
    const { last } = renderWithProviders(<SagaPanel />);
    const card = await screen.findByTestId(`saga-${ID}`);
    await within(card).findByText('CreateOrder');
    expect(within(card).getByText('RUNNING')).toBeInTheDocument();

    const socket = last();
    socket.open();
    socket.receive(step(2, 'ReserveInventory', 'STARTED', 10));
    socket.receive(step(2, 'ReserveInventory', 'FAILED', 11, { error: 'insufficient stock', event_type: 'StepFailed' }));
    // A duplicate of an older push changes nothing.
    socket.receive(step(2, 'ReserveInventory', 'STARTED', 10));
    socket.receive(sagaStatus('COMPENSATING', 12));
    socket.receive(sagaStatus(null, 13, true));
    socket.receive(step(3, 'CancelOrder (COMPENSATING)', 'COMPLETED', 14));

    const steps = await within(card).findAllByRole('listitem');
    await waitFor(() => expect(within(card).getAllByRole('listitem')).toHaveLength(3));
    expect(steps[0]).toHaveTextContent('CreateOrder');
    const items = within(card).getAllByRole('listitem');
    expect(items[1]).toHaveTextContent('ReserveInventory');
    expect(items[1]).toHaveTextContent('FAILED');
    expect(items[1]).toHaveTextContent('insufficient stock');
    expect(items[2]).toHaveTextContent('CancelOrder (COMPENSATING)');
    expect(items[2]).toHaveTextContent('compensation');
    expect(items[2]).toHaveAttribute('data-compensating', 'true');
    expect(items[1]).toHaveAttribute('data-compensating', 'false');
    expect(within(card).getByText('COMPENSATING')).toBeInTheDocument();
    expect(within(card).getByText('resumed')).toBeInTheDocument();
  });

  it('shows a compensation waiting for the resumer with the attempts so far', async () => {
    mockFetch({
      'GET /api/orders': json([], 200, { 'X-Total-Count': '0' }),
    });
    const { last } = renderWithProviders(<SagaPanel />);
    await screen.findByText(/No sagas yet/);
    last().open();
    last().receive(sagaStatus('COMPENSATING', 1));
    last().receive(step(3, 'ReleaseInventory (COMPENSATING)', 'STARTED', 2));
    last().receive(
      step(3, 'ReleaseInventory (COMPENSATING)', 'STARTED', 3, {
        attempts: 6,
        message: 'waiting for the resumer: timed out',
        event_type: 'StepPaused',
      }),
    );
    const card = await screen.findByTestId(`saga-${ID}`);
    await within(card).findByText('6 attempts');
    expect(within(card).getByText('waiting for the resumer: timed out')).toBeInTheDocument();
  });

  it('shows a saga that only the websocket knows about yet', async () => {
    mockFetch({
      'GET /api/orders': json([], 200, { 'X-Total-Count': '0' }),
    });
    const { last } = renderWithProviders(<SagaPanel />);
    await screen.findByText(/No sagas yet/);
    last().open();
    last().receive(sagaStatus('RUNNING', 1));
    last().receive(step(1, 'CreateOrder', 'STARTED', 2));
    const card = await screen.findByTestId(`saga-${ID}`);
    expect(within(card).getByText('CreateOrder')).toBeInTheDocument();
    expect(within(card).getByText('STARTED')).toBeInTheDocument();
  });

  it('reads no detail of a saga followed from its first step, until a reconnect may have lost pushes', async () => {
    // Each order placed anywhere cost an open Saga tab two details (three BFF calls each):
    // one when its saga appeared, one more on its status push (found in the UI).
    const { fetch, last } = await panelWithNoOrdersYet();
    last().receive(step(1, 'CreateOrder', 'STARTED', 1));
    last().receive(step(1, 'CreateOrder', 'COMPLETED', 2));
    last().receive(sagaStatus('COMPLETED', 3));
    await screen.findByTestId(`saga-${ID}`);
    expect(fetch.callsTo('GET', `/api/orders/${ID}`)).toHaveLength(0);

    last().receive({ type: 'snapshot', orders: [] });
    await waitFor(() => expect(fetch.callsTo('GET', `/api/orders/${ID}`)).toHaveLength(1));
  });

  it('says an order placed without a saga has none, and does not wait for its first step', async () => {
    mockFetch({
      'GET /api/orders': json([order(ID, { customer_name: 'Direct' })], 200, { 'X-Total-Count': '1' }),
      [`GET /api/orders/${ID}`]: json({ ...order(ID), events: [], saga: null, saga_log: [] }),
    });
    renderWithProviders(<SagaPanel />);
    const card = await screen.findByTestId(`saga-${ID}`);
    await within(card).findByText('No saga recorded for this order.');
    // found by a new user: both lines showed, one waiting for a step that never comes
    expect(within(card).queryByText('Waiting for the first step…')).not.toBeInTheDocument();
  });

  it('reads the detail of a followed saga that has gone quiet before it finished', async () => {
    // found in review: a push the BFF failed to send (it logs and drops it) left the card
    // stale for good, since only a reconnect marked a gap
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const { fetch, last } = await panelWithNoOrdersYet();
      last().receive(step(1, 'CreateOrder', 'STARTED', 1));
      await screen.findByTestId(`saga-${ID}`);
      await act(async () => {
        await vi.advanceTimersByTimeAsync(20_000);
      });
      expect(fetch.callsTo('GET', `/api/orders/${ID}`)).toHaveLength(0);
      await act(async () => {
        await vi.advanceTimersByTimeAsync(20_000);
      });
      await waitFor(() => expect(fetch.callsTo('GET', `/api/orders/${ID}`)).toHaveLength(1));
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads the detail of a saga joined midway', async () => {
    const { fetch, last } = await panelWithNoOrdersYet();
    last().receive(step(2, 'ReserveInventory', 'STARTED', 5));
    await waitFor(() => expect(fetch.callsTo('GET', `/api/orders/${ID}`)).toHaveLength(1));
  });
});
