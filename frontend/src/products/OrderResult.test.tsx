import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import type { PlaceOrderAnswer } from '../api';
import { ignoredLabels } from '../test/ignoredLabels';
import { renderWithProviders } from '../test/render';
import { OrderResult } from './OrderResult';

const CONFIRMED: PlaceOrderAnswer = {
  order_id: '66666666-ffff-4fff-8fff-000000000006',
  success: true,
  status: 'COMPLETED',
  message: 'Order confirmed.',
  saga_log: [{ step: 1, action: 'CreateOrder', status: 'COMPLETED', error: null }],
  httpStatus: 200,
};

describe('order result', () => {
  it('says when the resumer finished the saga, which the log alone does not show', () => {
    // found in the UI: a saga crashed midway read "Order confirmed" like any other
    renderWithProviders(<OrderResult result={{ ...CONFIRMED, resumed: true, resumptions: 1 }} />);
    expect(screen.getByText('Order confirmed')).toBeInTheDocument();
    expect(screen.getByText('resumed')).toBeInTheDocument();
    expect(screen.getByText(/resumer took it over from its persisted log and finished it\.$/)).toBeInTheDocument();
  });

  it('does not say the resumer finished a saga it has not: one still waiting for it', () => {
    // found from outside: a saga whose first run gave up at its deadline, still COMPENSATING
    // with a step "waiting for the resumer", read "the resumer took it over and finished it"
    renderWithProviders(
      <OrderResult
        result={{
          order_id: CONFIRMED.order_id,
          success: false,
          status: 'COMPENSATING',
          resumed: true,
          resumptions: 1,
          httpStatus: 202,
          saga_log: [
            { step: 1, action: 'CreateOrder', status: 'COMPLETED', error: null },
            { step: 2, action: 'ReserveInventory', status: 'FAILED', error: 'timed out' },
            {
              step: 3,
              action: 'CancelOrder (COMPENSATING)',
              status: 'STARTED',
              error: null,
              compensating: true,
              message: 'waiting for the resumer: order-service did not answer',
            },
          ],
        }}
      />,
    );
    const note = screen.getByText(/resumer took it over/);
    expect(note).not.toHaveTextContent('and finished it');
    expect(note).toHaveTextContent('has not finished it yet: a step is waiting for the resumer to try it again.');
    expect(note).toHaveTextContent('gave up on a step at its deadline');
  });

  it('says nothing of resuming for a saga that ran in one go', () => {
    renderWithProviders(<OrderResult result={{ ...CONFIRMED, resumed: false }} />);
    expect(screen.queryByText('resumed')).not.toBeInTheDocument();
  });

  it('reads each step of the saga log with its number, in words a screen reader reads', () => {
    // found in review: the number's "Step 1" was an aria-label on a span, which goes unread
    const { container } = renderWithProviders(<OrderResult result={CONFIRMED} />);
    const [step] = within(screen.getByRole('list', { name: 'Saga log' })).getAllByRole('listitem');
    expect(step).toHaveTextContent(/^Step 1CreateOrderCOMPLETED/);
    expect(ignoredLabels(container)).toEqual([]);
  });
});
