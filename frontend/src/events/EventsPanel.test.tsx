import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { EVENT } from '../test/fixtures';
import { ignoredLabels } from '../test/ignoredLabels';
import { json, mockFetch } from '../test/mockFetch';
import { renderWithProviders } from '../test/render';
import { EventsPanel } from './EventsPanel';

const SAGA_EVENT = {
  ...EVENT,
  position: 1096,
  aggregate_id: '9060dd85-56e2-5894-950a-01bb6ffae8ef',
  aggregate_type: 'PlaceOrderSaga',
  event_type: 'StepSucceeded',
  event_data: { seq: 3, step: 'ConfirmOrder' },
  metadata: { service: 'saga-service', correlation_id: 'c0ffee00-0000-4000-8000-000000000000' },
  service: 'saga-service' as const,
};

function setup() {
  const fetch = mockFetch({
    'GET /api/events': json([SAGA_EVENT, EVENT], 200, { 'X-Total-Count': '2' }),
  });
  return { ...renderWithProviders(<EventsPanel />), fetch };
}

describe('events', () => {
  it('expands a row to show event_data and metadata', async () => {
    const { user } = setup();
    const toggle = await screen.findByRole('button', { name: /Details of OrderConfirmed/ });
    expect(toggle).toHaveAttribute('aria-expanded', 'false');
    expect(screen.queryByText('a2bbee64-a350-4325-a02c-afbd02b6e536')).not.toBeInTheDocument();

    await user.click(toggle);
    expect(toggle).toHaveAttribute('aria-expanded', 'true');
    const details = document.getElementById(toggle.getAttribute('aria-controls') ?? '');
    expect(details).toBeVisible();
    const region = within(details as HTMLElement);
    expect(region.getByText('a2bbee64-a350-4325-a02c-afbd02b6e536')).toBeInTheDocument();
    expect(region.getByText('saga:9060dd85:ConfirmOrder-cause')).toBeInTheDocument();
    expect(region.getByText('saga:9060dd85:ConfirmOrder')).toBeInTheDocument();
    expect(region.getByRole('region', { name: 'metadata' })).toHaveTextContent('"command_type": "ConfirmOrder"');
    expect(region.getByRole('figure', { name: 'metadata' })).toBeInTheDocument(); // named by its caption
    expect(region.getByRole('region', { name: 'event_data' })).toHaveTextContent('"note": "confirmed by saga"');
    expect(ignoredLabels(details as HTMLElement)).toEqual([]);

    await user.click(toggle);
    expect(toggle).toHaveAttribute('aria-expanded', 'false');
  });

  it('filters by service, type and aggregate id', async () => {
    const { user, fetch } = setup();
    await screen.findByRole('button', { name: /Details of OrderConfirmed/ });

    await user.selectOptions(screen.getByLabelText('Service'), 'saga-service');
    await waitFor(() =>
      expect(fetch.callsTo('GET', '/api/events').at(-1)?.url.searchParams.get('service')).toBe('saga-service'),
    );

    await user.type(screen.getByLabelText('Event type'), 'StepSucceeded');
    await waitFor(() =>
      expect(fetch.callsTo('GET', '/api/events').at(-1)?.url.searchParams.get('type')).toBe('StepSucceeded'),
    );

    await user.type(screen.getByLabelText('Aggregate id'), 'not-a-uuid');
    expect(await screen.findByText('Enter a whole aggregate id (a UUID).')).toBeInTheDocument();
    expect(fetch.callsTo('GET', '/api/events').at(-1)?.url.searchParams.get('aggregate')).toBeNull();
    // not the unfiltered log under an id that filters nothing
    expect(screen.queryByRole('list', { name: 'Events, newest first' })).not.toBeInTheDocument();

    await user.clear(screen.getByLabelText('Aggregate id'));
    await user.type(screen.getByLabelText('Aggregate id'), SAGA_EVENT.aggregate_id);
    await waitFor(() =>
      expect(fetch.callsTo('GET', '/api/events').at(-1)?.url.searchParams.get('aggregate')).toBe(
        SAGA_EVENT.aggregate_id,
      ),
    );
    expect(screen.queryByText('Enter a whole aggregate id (a UUID).')).not.toBeInTheDocument();
  });

  it('keeps the focus on Clear filters once it has cleared them', async () => {
    // A disabled button cannot hold the focus: browsers drop it to <body>. jsdom keeps it
    // there, so the button is checked to stay focusable (aria-disabled, not disabled).
    const { user } = setup();
    await screen.findByRole('button', { name: /Details of OrderConfirmed/ });
    const clear = screen.getByRole('button', { name: 'Clear filters' });
    expect(clear).toHaveAttribute('aria-disabled', 'true');
    await user.type(screen.getByLabelText('Event type'), 'StepSucceeded');
    expect(clear).toHaveAttribute('aria-disabled', 'false');

    await user.click(clear);
    expect(screen.getByLabelText('Event type')).toHaveValue('');
    expect(clear).toHaveFocus();
    expect(clear).toBeEnabled();
    expect(clear).toHaveAttribute('aria-disabled', 'true');
  });

  it('refetches when a push arrives', async () => {
    const { fetch, last } = setup();
    await screen.findByRole('button', { name: /Details of OrderConfirmed/ });
    const before = fetch.callsTo('GET', '/api/events').length;
    last().open();
    last().receive({
      type: 'saga.step',
      order_id: '69407247-8225-4684-ac7e-24badb0b97e9',
      saga_id: SAGA_EVENT.aggregate_id,
      step: 1,
      action: 'CreateOrder',
      compensating: false,
      status: 'STARTED',
      message: '',
      error: null,
      duration_ms: null,
      attempts: null,
      event_type: 'StepStarted',
      position: 2000,
      at: '2026-11-25T22:40:00Z',
    });
    await waitFor(() => expect(fetch.callsTo('GET', '/api/events').length).toBe(before + 1), { timeout: 2000 });
  });

  it('suggests the event types, since the type filter matches exactly', () => {
    setup();
    const input = screen.getByLabelText('Event type');
    const list = document.getElementById(input.getAttribute('list') ?? '');
    const offered = [...(list?.querySelectorAll('option') ?? [])].map((o) => o.value);
    expect(offered).toContain('OrderConfirmed');
    expect(offered).toContain('StockReserved');
    expect(offered).toContain('SagaCompensated');
  });

  it('pages through the whole window of the newest 1,000 events, and says so', async () => {
    mockFetch({ 'GET /api/events': json([SAGA_EVENT, EVENT], 200, { 'X-Total-Count': '5000' }) });
    const { user } = renderWithProviders(<EventsPanel />);
    const next = await screen.findByRole('button', { name: 'Next' });
    for (let page = 1; page < 20; page++) {
      await waitFor(() => expect(next).toHaveAttribute('aria-disabled', 'false'));
      await user.click(next);
    }
    const pager = screen.getByRole('navigation', { name: 'Event pages' });
    await waitFor(() => expect(pager).toHaveTextContent(/^Previous951–952 of 5,000Next$/));
    expect(next).toHaveAttribute('aria-disabled', 'true');
    expect(screen.getByText(/only the newest 1,000 events/i)).toBeVisible();
  });
});
