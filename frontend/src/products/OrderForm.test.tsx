import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { COMPENSATED_LOG, LAPTOP, MOUSE, order } from '../test/fixtures';
import { type Call, type Reply, html, json, mockFetch } from '../test/mockFetch';
import { renderWithProviders } from '../test/render';
import { UNSETTLED_POLL_MS } from '../queries';
import { DOUBLE_SUBMIT_MS } from './OrderForm';
import { ProductsPanel } from './ProductsPanel';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A deliberate submit after the last answer: past the double-click guard. */
function later() {
  vi.setSystemTime(Date.now() + DOUBLE_SUBMIT_MS);
}

afterEach(() => {
  vi.useRealTimers(); // the clock later() moved
});

async function setup(post?: (call: Call) => Reply | Promise<Reply>) {
  const fetch = mockFetch({
    'GET /api/products': json([LAPTOP, MOUSE]),
    ...(post ? { 'POST /api/orders': post } : {}),
  });
  const rendered = renderWithProviders(<ProductsPanel />);
  await screen.findByRole('option', { name: /Laptop/ });
  return { ...rendered, fetch };
}

/** The panel on ``routes`` (and the catalogue), its socket open, a Laptop ordered. */
/** The BFF's 503 that names the order it chose: the saga may still place it. */
function sagaUnavailable(orderId: string) {
  return json({ detail: 'saga-service answered 503', code: 'service_unavailable', order_id: orderId }, 503);
}

function orderDetail(orderId: string, status: string) {
  return json({ ...order(orderId, { status: status as 'PENDING' }), events: [], saga: null, saga_log: [] });
}

async function placeLaptopOrder(routes: Parameters<typeof mockFetch>[0]) {
  const fetch = mockFetch({ 'GET /api/products': json([LAPTOP, MOUSE]), ...routes });
  const rendered = { ...renderWithProviders(<ProductsPanel />), fetch };
  await screen.findByRole('option', { name: /Laptop/ });
  rendered.last().open();
  await rendered.user.type(screen.getByLabelText('Customer name'), 'Sato');
  await rendered.user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
  await rendered.user.click(screen.getByRole('button', { name: 'Place order' }));
  return rendered;
}

describe('the catalog', () => {
  it("isolates each product's name in the form's list, an option holding text only", async () => {
    await setup();
    expect(screen.getByRole('option', { name: /Laptop/ }).textContent).toBe('\u2068Laptop\u2069 — ¥120,000 (48 available)');
  });

  it('is not called empty while it loads, nor when it could not be read', async () => {
    // found in review: "The catalog is empty." showed beside "Loading products…" and
    // beside "Could not load products"
    mockFetch({
      'GET /api/products': json({ detail: 'inventory-service did not answer', code: 'unavailable' }, 503),
    });
    renderWithProviders(<ProductsPanel />);
    expect(screen.getByText('Loading products…')).toBeInTheDocument();
    expect(screen.queryByText('The catalog is empty.')).not.toBeInTheDocument();
    await screen.findByText('Could not load products');
    expect(screen.queryByText('The catalog is empty.')).not.toBeInTheDocument();
  });
});

describe('order form validation', () => {
  it('says what is missing and sends nothing', async () => {
    const { user, fetch } = await setup();
    await user.clear(screen.getByLabelText('Quantity'));
    await user.click(screen.getByRole('button', { name: 'Place order' }));

    expect(screen.getByText('Customer name is required.')).toBeInTheDocument();
    expect(screen.getByText('Choose a product.')).toBeInTheDocument();
    expect(screen.getByText('Quantity is required.')).toBeInTheDocument();
    expect(screen.getByLabelText('Customer name')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText('Customer name')).toHaveAccessibleDescription('Customer name is required.');
    expect(screen.getByLabelText('Customer name')).toHaveFocus();
    expect(fetch.callsTo('POST', '/api/orders')).toHaveLength(0);
  });

  it('checks the quantity is a whole number from 1 to 10,000', async () => {
    const { user, fetch } = await setup();
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    const quantity = screen.getByLabelText('Quantity');
    await user.clear(quantity);
    await user.type(quantity, '0');
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    expect(quantity).toHaveFocus();
    expect(screen.getByText('Quantity must be between 1 and 10,000.')).toBeInTheDocument();
    await user.clear(quantity);
    await user.type(quantity, '10001');
    expect(screen.getByText('Quantity must be between 1 and 10,000.')).toBeInTheDocument();
    await user.clear(quantity);
    await user.type(quantity, '2.5');
    expect(screen.getByText('Quantity must be a whole number.')).toBeInTheDocument();
    await user.clear(quantity);
    await user.type(quantity, 'abc');
    expect(screen.getByText('Quantity must be a whole number.')).toBeInTheDocument();
    for (const notation of ['1e2', '0x10']) {
      // Number() reads these, the form does not: the hint must not price them
      await user.clear(quantity);
      await user.type(quantity, notation);
      expect(screen.getByText('Quantity must be a whole number.')).toBeInTheDocument();
      expect(screen.queryByText(/Total ¥/)).not.toBeInTheDocument();
    }
    expect(quantity).toHaveAttribute('aria-invalid', 'true');
    await user.clear(quantity);
    await user.type(quantity, '3');
    expect(screen.queryByText(/Quantity must/)).not.toBeInTheDocument();
    expect(screen.getByText(/Total ¥360,000/)).toBeInTheDocument();
    expect(fetch.callsTo('POST', '/api/orders')).toHaveLength(0);
  });

  it("shows the BFF's 400 field errors under the fields", async () => {
    const { user } = await setup(() =>
      json(
        {
          detail: 'Invalid input.',
          code: 'invalid',
          errors: { customer_name: ['Ensure this field has no more than 200 characters.'] },
        },
        400,
      ),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));

    expect(await screen.findByText('Ensure this field has no more than 200 characters.')).toBeInTheDocument();
    expect(screen.getByLabelText('Customer name')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText('Customer name')).toHaveAccessibleDescription(
      'Ensure this field has no more than 200 characters.',
    );
    expect(screen.getByLabelText('Customer name')).toHaveFocus();
    expect(screen.getByRole('alert')).toHaveTextContent('Order not placed');

    // found from outside: fixed, then refused in the browser for another field, the form
    // still showed the server's old "Invalid input." banner beside the new field error
    await user.clear(screen.getByLabelText('Quantity'));
    await user.type(screen.getByLabelText('Quantity'), '0');
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    expect(await screen.findByText(/Quantity must be between 1 and/)).toBeInTheDocument();
    expect(screen.queryByText('Invalid input.')).not.toBeInTheDocument();
  });

  it('moves the focus to the first field the BFF refused, which its message describes', async () => {
    // found in review: the refusal was shown, but the focus stayed on Place order
    const { user } = await setup(() =>
      json(
        {
          detail: 'Invalid input.',
          code: 'invalid',
          errors: {
            quantity: ['Ensure this value is less than or equal to 10000.'],
            product_id: ['Unknown product.'],
          },
        },
        400,
      ),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));

    const product = screen.getByLabelText('Product');
    await waitFor(() => expect(product).toHaveFocus());
    expect(product).toHaveAttribute('aria-invalid', 'true');
    expect(product).toHaveAccessibleDescription('Unknown product.');
    const quantity = screen.getByLabelText('Quantity');
    expect(quantity).toHaveAttribute('aria-invalid', 'true');
    expect(quantity).toHaveAccessibleDescription(/Ensure this value is less than or equal to 10000\.$/);
  });

  it('explains a faults_disabled refusal in the fault injection fieldset', async () => {
    const { user, fetch } = await setup(() =>
      json(
        { detail: 'fault injection is disabled on this server (set SAGA_FAULTS=1)', code: 'faults_disabled' },
        400,
      ),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.selectOptions(screen.getByLabelText('ReserveInventory'), 'fail');
    await user.click(screen.getByRole('button', { name: 'Place order' }));

    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Order not placed');
    expect(alert).toHaveTextContent('fault injection is disabled on this server (set SAGA_FAULTS=1)');
    const fieldset = screen.getByRole('group', { name: 'Fault injection' });
    expect(within(fieldset).getByTestId('faults-refusal')).toHaveTextContent(
      'fault injection is disabled on this server (set SAGA_FAULTS=1)',
    );
    // the fault chosen is what was refused: the focus goes there, to set it back to none
    const fault = screen.getByLabelText('ReserveInventory');
    expect(fault).toHaveFocus();
    expect(fault).toHaveAttribute('aria-invalid', 'true');
    expect(fault).toHaveAccessibleDescription('fault injection is disabled on this server (set SAGA_FAULTS=1)');
    expect(screen.getByLabelText('CreateOrder')).toHaveAttribute('aria-invalid', 'false');
    expect(fetch.callsTo('POST', '/api/orders')[0].body).toEqual({
      customer_name: 'Sato',
      product_id: LAPTOP.id,
      quantity: 1,
      faults: { ReserveInventory: 'fail' },
    });
  });
});

describe('placing an order', () => {
  it('posts with a fresh Idempotency-Key and renders the saga log', async () => {
    const { user, fetch } = await setup((call) =>
      json({
        order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a',
        saga_id: '9060dd85-56e2-5894-950a-01bb6ffae8ef',
        success: false,
        status: 'COMPENSATED',
        reason: 'insufficient stock: 48 available',
        message: 'Order cancelled: insufficient stock: 48 available',
        quantity: (call.body as { quantity: number }).quantity,
        total_price: 6000000,
        saga_log: COMPENSATED_LOG,
      }),
    );
    await user.type(screen.getByLabelText('Customer name'), '  Sato  ');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.clear(screen.getByLabelText('Quantity'));
    await user.type(screen.getByLabelText('Quantity'), '50');
    expect(screen.getByText(/Only 48 available/)).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Place order' }));

    const banner = await screen.findByRole('alert');
    expect(banner).toHaveTextContent('Order cancelled');
    expect(banner).toHaveTextContent('Order cancelled: insufficient stock: 48 available');

    const log = screen.getByRole('list', { name: 'Saga log' });
    const steps = within(log).getAllByRole('listitem');
    expect(steps).toHaveLength(3);
    expect(steps[0]).toHaveTextContent('1CreateOrderCOMPLETED');
    expect(steps[0]).toHaveTextContent('Duration 26.4 ms');
    expect(steps[1]).toHaveTextContent('ReserveInventory');
    expect(steps[1]).toHaveTextContent('FAILED');
    expect(steps[1]).toHaveTextContent('insufficient stock: 48 available');
    expect(steps[2]).toHaveTextContent('CancelOrder (COMPENSATING)');
    expect(steps[2]).toHaveTextContent('compensation');
    expect(steps[2]).toHaveClass('step--compensating');

    const [post] = fetch.callsTo('POST', '/api/orders');
    expect(post.body).toEqual({ customer_name: 'Sato', product_id: LAPTOP.id, quantity: 50 });
    const key = post.headers.get('Idempotency-Key');
    expect(key).toMatch(UUID);

    // Every submit is a new order, so it gets a new key.
    later();
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByRole('list', { name: 'Saga log' });
    const keys = fetch.callsTo('POST', '/api/orders').map((c) => c.headers.get('Idempotency-Key'));
    expect(keys).toHaveLength(2);
    expect(keys[1]).toMatch(UUID);
    expect(keys[1]).not.toEqual(key);
  });

  it("clears the last order's result when the next submit is refused in the form", async () => {
    // found from outside: a green "Order confirmed" stayed under a form whose new submit was
    // refused, as if it were that submit's
    const { user } = await setup(() =>
      json({ order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a', success: true, status: 'COMPLETED', saga_log: [] }),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order confirmed');
    await user.clear(screen.getByLabelText('Customer name'));
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    expect(screen.getByText('Customer name is required.')).toBeInTheDocument();
    expect(screen.queryByText('Order confirmed')).not.toBeInTheDocument();
  });

  it('keeps an unknown outcome when the next submit is refused in the form', async () => {
    const { user } = await setup(() => json({ detail: 'saga-service did not answer', code: 'service_unavailable' }, 503));
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order outcome unknown');
    await user.clear(screen.getByLabelText('Customer name'));
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    expect(screen.getByText('Customer name is required.')).toBeInTheDocument();
    // its order may still be placed: what to do about it still holds
    expect(screen.getByText('Order outcome unknown')).toBeInTheDocument();
  });

  it('says an order whose CreateOrder failed was not placed, not cancelled', async () => {
    // found from outside: "Order cancelled" for an order that never existed
    const { user } = await setup(() =>
      json({
        order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a',
        success: false,
        status: 'COMPENSATED',
        reason: 'CreateOrder failed: injected failure of CreateOrder',
        message: 'Order not placed: CreateOrder failed: injected failure of CreateOrder',
        saga_log: [{ step: 1, action: 'CreateOrder', status: 'FAILED', error: 'injected failure of CreateOrder' }],
      }),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    const banner = await screen.findByRole('alert');
    expect(banner).toHaveTextContent('Order not placed');
    expect(banner).not.toHaveTextContent('Order cancelled');
  });

  it('shows a success banner for a confirmed order', async () => {
    const { user } = await setup(() =>
      json({
        order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a',
        success: true,
        status: 'COMPLETED',
        message: 'Order confirmed: 1 x Wireless Mouse',
        saga_log: [
          { step: 1, action: 'CreateOrder', status: 'COMPLETED', error: null, duration_ms: 12 },
          { step: 2, action: 'ReserveInventory', status: 'COMPLETED', error: null, duration_ms: 9 },
          { step: 3, action: 'ConfirmOrder', status: 'COMPLETED', error: null, duration_ms: 7 },
        ],
      }),
    );
    await user.click(screen.getByRole('button', { name: /Order this Wireless Mouse/ }));
    expect(screen.getByLabelText('Product')).toHaveValue(MOUSE.id);
    expect(screen.getByLabelText('Customer name')).toHaveFocus();
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.click(screen.getByRole('button', { name: 'Place order' }));

    const banner = await screen.findByText('Order confirmed');
    expect(banner.closest('.notice')).toHaveTextContent('Order confirmed: 1 x Wireless Mouse');
    expect(within(screen.getByRole('list', { name: 'Saga log' })).getAllByRole('listitem')).toHaveLength(3);
  });

  it('sends an order whose outcome is unknown again with the same key, and only that order', async () => {
    let answer = json({ detail: 'saga-service did not answer', code: 'service_unavailable' }, 503);
    const { user, fetch } = await setup(() => answer);
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));

    const notice = (await screen.findByText('Order outcome unknown')).closest('.notice');
    expect(notice).toHaveTextContent('saga-service did not answer');
    expect(notice).toHaveTextContent('placed at most once');
    expect(screen.queryByText('Order not placed')).not.toBeInTheDocument();

    answer = json({
      order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a',
      success: true,
      status: 'COMPLETED',
      message: 'Order confirmed: 1 x Laptop',
      saga_log: [],
    });
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    // answered with the order first sent, which is not a new one
    const earlier = (await screen.findByText('Earlier order confirmed')).closest('.notice');
    expect(earlier).toHaveTextContent(/This is the order sent at \d\d:\d\d:\d\d with the same details/);
    // answered: the next submit is a new order
    later();
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order confirmed');
    const keys = fetch.callsTo('POST', '/api/orders').map((c) => c.headers.get('Idempotency-Key'));
    expect(keys).toHaveLength(3);
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[2]).not.toEqual(keys[0]);
  });

  it('keeps the focus on Place order while the saga runs', async () => {
    // A disabled button cannot hold the focus: browsers drop it to <body>, and a keyboard
    // user starts again from the top. jsdom keeps it there, so the button is checked to stay
    // focusable (aria-disabled, not disabled).
    let answer: (reply: Reply) => void = () => {};
    const { user, fetch } = await setup(() => new Promise((resolve) => (answer = resolve)));
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    const button = screen.getByRole('button', { name: 'Place order' });
    await user.click(button);
    await screen.findByText('Running the saga…');
    expect(button).toHaveFocus();
    expect(button).toBeEnabled();
    expect(button).toHaveAttribute('aria-disabled', 'true');

    await user.keyboard('{Enter}'); // pressed again while the order runs: nothing is sent
    expect(fetch.callsTo('POST', '/api/orders')).toHaveLength(1);

    act(() => answer(json({ order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a', success: true, status: 'COMPLETED', saga_log: [] })));
    await screen.findByText('Order confirmed');
    expect(button).toHaveFocus();
    expect(button).toHaveAttribute('aria-disabled', 'false');
  });

  it("says a proxy's HTML error page by its status, not as markup", async () => {
    // found from outside: a reverse proxy's 502 page was shown in the notice, tags and all
    const { user } = await setup(() =>
      html('<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>', 502, 'Bad Gateway'),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    // a 5xx from in front of the BFF: the order may have been placed behind it
    const notice = (await screen.findByText('Order outcome unknown')).closest('.notice') as HTMLElement;
    expect(notice).toHaveTextContent('The server answered 502 Bad Gateway');
    expect(notice).not.toHaveTextContent('<');
  });

  it('gives up on a BFF that does not answer, and says so', async () => {
    const { user, fetch } = await setup(() => {
      throw new DOMException('The operation timed out.', 'TimeoutError');
    });
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    const notice = (await screen.findByText('Order outcome unknown')).closest('.notice');
    expect(notice).toHaveTextContent('did not answer within 60 s');
    expect(screen.getByRole('button', { name: 'Place order' })).toHaveAttribute('aria-disabled', 'false');
    // found in the UI: with no timeout a hung BFF left the form "running the saga" for good
    expect(fetch.callsTo('POST', '/api/orders')[0].signal).toBeInstanceOf(AbortSignal);
  });

  it('says the BFF is reachable again once the live connection is back', async () => {
    const { user, last } = await setup(() => {
      throw new TypeError('Failed to fetch');
    });
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    const notice = (await screen.findByText('Order outcome unknown')).closest('.notice') as HTMLElement;
    expect(notice).toHaveTextContent('cannot be reached');
    act(() => last().open());
    // found in the UI: "cannot be reached" stayed after the BFF was back
    await waitFor(() => expect(notice).toHaveTextContent('can be reached again now'));
  });

  it('sends a changed order with a new key after an unknown outcome', async () => {
    const { user, fetch } = await setup(() => json({ detail: 'boom', code: 'server_error' }, 500));
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order outcome unknown');
    await user.clear(screen.getByLabelText('Quantity'));
    await user.type(screen.getByLabelText('Quantity'), '2');
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order outcome unknown');
    const posts = fetch.callsTo('POST', '/api/orders');
    expect(posts).toHaveLength(2);
    expect(posts[1].headers.get('Idempotency-Key')).not.toEqual(posts[0].headers.get('Idempotency-Key'));
  });

  it('places one order when the form is submitted twice before it re-renders', async () => {
    const { user, fetch } = await setup(() =>
      json({ order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a', success: true, status: 'COMPLETED', saga_log: [] }),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    const form = screen.getByRole('form', { name: 'Place an order' });
    fireEvent.submit(form);
    fireEvent.submit(form);
    await screen.findByText('Order confirmed');
    expect(fetch.callsTo('POST', '/api/orders')).toHaveLength(1);
  });

  it('places one order for a double-click, though the first click was answered before the second', async () => {
    // found from outside: answered in ~30 ms, the second click of a double-click placed a
    // second order; the guard only held while a request was on its way
    const { user, fetch } = await setup(() =>
      json({ order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a', success: true, status: 'COMPLETED', saga_log: [] }),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    const button = screen.getByRole('button', { name: 'Place order' });
    await user.click(button);
    await screen.findByText('Order confirmed');
    await user.click(button);
    expect(screen.getByText('Order confirmed')).toBeInTheDocument();
    expect(fetch.callsTo('POST', '/api/orders')).toHaveLength(1);

    // the same order placed again on purpose, a moment later, is a new order
    later();
    await user.click(button);
    await vi.waitFor(() => expect(fetch.callsTo('POST', '/api/orders')).toHaveLength(2));
    const keys = fetch.callsTo('POST', '/api/orders').map((c) => c.headers.get('Idempotency-Key'));
    expect(keys[1]).not.toEqual(keys[0]);
  });

  it('follows an order answered while its saga was still running until the saga ends', async () => {
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    const { user, last } = await setup(() =>
      json(
        {
          order_id: orderId,
          saga_id: 's',
          success: false,
          status: 'COMPENSATING',
          reason: 'inventory-service did not answer',
          saga_log: [{ step: 1, action: 'CreateOrder', status: 'COMPLETED', error: null, duration_ms: 5 }],
        },
        202,
      ),
    );
    last().open();
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    expect(await screen.findByText('Order still being processed')).toBeInTheDocument();

    const at = '2026-11-25T10:00:09Z';
    last().receive({
      type: 'saga.step', order_id: orderId, saga_id: 's', step: 3, action: 'CancelOrder (COMPENSATING)',
      compensating: true, status: 'COMPLETED', message: 'cancelled', error: null, duration_ms: 4,
      attempts: 1, event_type: 'StepSucceeded', position: 20, at,
    });
    last().receive({
      type: 'saga.status', order_id: orderId, saga_id: 's', status: 'COMPENSATED', resumed: true,
      reason: 'inventory-service did not answer', event_type: 'SagaCompensated', position: 21, at,
    });
    const banner = (await screen.findByText('Order cancelled')).closest('.notice');
    expect(banner).toHaveTextContent('inventory-service did not answer');
    expect(screen.queryByText('Order still being processed')).not.toBeInTheDocument();
    const log = screen.getByRole('list', { name: 'Saga log' });
    expect(within(log).getAllByRole('listitem')).toHaveLength(2);
    expect(within(log).getByText('CancelOrder (COMPENSATING)')).toBeInTheDocument();
  });

  it('shows how an order answered 202 ended though its pushes were missed while disconnected', async () => {
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    let saga = { order_id: orderId, saga_id: 's', success: false, status: 'RUNNING', reason: null };
    const { last } = await placeLaptopOrder({
      'POST /api/orders': json({ ...saga, saga_log: [] }, 202),
      [`GET /api/orders/${orderId}`]: () =>
        json({ ...order(orderId), events: [], saga, saga_log: [] }),
    });
    expect(await screen.findByText('Order still being processed')).toBeInTheDocument();

    // the socket drops; the saga completes meanwhile; the reconnect's snapshot comes
    saga = { ...saga, success: true, status: 'COMPLETED' };
    last().receive({ type: 'snapshot', orders: [] });
    expect(await screen.findByText('Order confirmed')).toBeInTheDocument();
  });

  it('says why an order answered 202 was cancelled, learnt by a read after a reconnect', async () => {
    // found in review: the banner read "Order cancelled" over "still being processed"
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    const reason = 'ReserveInventory failed: inventory-service did not answer';
    let saga = { order_id: orderId, saga_id: 's', success: false, status: 'COMPENSATING', reason };
    const { last } = await placeLaptopOrder({
      'POST /api/orders': json(
        { ...saga, message: 'The order is still being processed; watch its status.', saga_log: [] },
        202,
      ),
      [`GET /api/orders/${orderId}`]: () =>
        json({ ...order(orderId), events: [], saga: { ...saga, saga_log: [] }, saga_log: [] }),
    });
    expect(await screen.findByText('Order still being processed')).toBeInTheDocument();

    saga = { ...saga, status: 'COMPENSATED' };
    last().receive({ type: 'snapshot', orders: [] });
    const notice = (await screen.findByText('Order cancelled')).closest('.notice') as HTMLElement;
    expect(notice).not.toHaveTextContent('still being processed');
    expect(notice).toHaveTextContent(reason);
  });

  it('follows the order a 503 names: the saga may still have placed it', async () => {
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    let status = 'PENDING';
    const { last } = await placeLaptopOrder({
      'POST /api/orders': sagaUnavailable(orderId),
      [`GET /api/orders/${orderId}`]: () => orderDetail(orderId, status),
    });
    const notice = (await screen.findByText('Order outcome unknown')).closest('.notice') as HTMLElement;
    expect(await within(notice).findByText('PENDING')).toBeInTheDocument();

    status = 'CONFIRMED'; // the resumer finished it
    last().receive({
      type: 'order.status', event_type: 'OrderConfirmed', position: 9, at: '2026-11-25T10:00:09Z',
      order_id: orderId, status: 'CONFIRMED',
    });
    expect(await within(notice).findByText('CONFIRMED', {}, { timeout: 3000 })).toBeInTheDocument();
  });

  it('reads a PENDING order a 503 named again until it settles, push or none', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true, toFake: ['setInterval', 'clearInterval'] });
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    let status = 'PENDING';
    await placeLaptopOrder({
      'POST /api/orders': sagaUnavailable(orderId),
      [`GET /api/orders/${orderId}`]: () => orderDetail(orderId, status),
    });
    const notice = (await screen.findByText('Order outcome unknown')).closest('.notice') as HTMLElement;
    expect(await within(notice).findByText('PENDING')).toBeInTheDocument();
    status = 'CONFIRMED'; // the resumer finished it, and the push was missed
    await vi.advanceTimersByTimeAsync(UNSETTLED_POLL_MS);
    expect(await screen.findByRole('status', { name: 'Order confirmed' })).toHaveTextContent('CONFIRMED');
  });

  it('says what became of the order a 503 named once it is known, and forgets its key', async () => {
    // found from outside: the notice still read "Order outcome unknown … place it again" over
    // "CONFIRMED", and the same details placed later were answered with that old order
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    let status = 'PENDING';
    const posts: Call[] = [];
    const { user, last } = await placeLaptopOrder({
      'POST /api/orders': (call) => {
        posts.push(call);
        return posts.length === 1
          ? sagaUnavailable(orderId)
          : json({ order_id: 'another', success: true, status: 'COMPLETED', saga_log: [] });
      },
      [`GET /api/orders/${orderId}`]: () => orderDetail(orderId, status),
    });
    await screen.findByText('Order outcome unknown');
    expect(sessionStorage.getItem('unanswered-orders')).toContain(posts[0].headers.get('Idempotency-Key'));

    status = 'CONFIRMED';
    last().receive({
      type: 'order.status', event_type: 'OrderConfirmed', position: 9, at: '2026-11-25T10:00:09Z',
      order_id: orderId, status: 'CONFIRMED',
    });
    const notice = await screen.findByRole('status', { name: 'Order confirmed' });
    expect(notice).toHaveTextContent('Order 0b7f3c1e is CONFIRMED.');
    expect(notice).toHaveTextContent('The same details placed again are a new order.');
    expect(notice).not.toHaveTextContent('may have been placed');
    expect(screen.queryByText('Order outcome unknown')).not.toBeInTheDocument();
    expect(JSON.parse(sessionStorage.getItem('unanswered-orders') ?? '[]')).toEqual([]);

    // the same details later: a new order, with a new key, answered as one
    later();
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order confirmed');
    expect(screen.queryByText('Earlier order confirmed')).not.toBeInTheDocument();
    expect(posts).toHaveLength(2);
    expect(posts[1].headers.get('Idempotency-Key')).not.toEqual(posts[0].headers.get('Idempotency-Key'));
  });

  it('says an order a 503 named was not placed once its saga ended without creating it', async () => {
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    const { last } = await placeLaptopOrder({
      'POST /api/orders': sagaUnavailable(orderId),
      [`GET /api/orders/${orderId}`]: json({ detail: `no order ${orderId}`, code: 'not_found' }, 404),
    });
    const unknown = (await screen.findByText('Order outcome unknown')).closest('.notice') as HTMLElement;
    expect(await within(unknown).findByText(/has not been created, and no saga for it/)).toBeInTheDocument();
    last().receive({
      type: 'saga.status', order_id: orderId, saga_id: 's', status: 'COMPENSATED', resumed: true,
      reason: 'CreateOrder failed: order-service did not answer', event_type: 'SagaCompensated',
      position: 21, at: '2026-11-25T10:00:09Z',
    });
    const notice = await screen.findByRole('alert', { name: 'Order not placed' });
    expect(notice).toHaveTextContent('Order 0b7f3c1e was never created');
    expect(JSON.parse(sessionStorage.getItem('unanswered-orders') ?? '[]')).toEqual([]);
  });

  it('reads the saga of a missing order until it ends: the push that settles it may be missed', async () => {
    // found in review: an order never created whose saga ended unseen stayed unknown for good
    vi.useFakeTimers({ shouldAdvanceTime: true, toFake: ['setInterval', 'clearInterval'] });
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    let status = 'RUNNING';
    const { fetch } = await placeLaptopOrder({
      'POST /api/orders': sagaUnavailable(orderId),
      [`GET /api/orders/${orderId}`]: json({ detail: `no order ${orderId}`, code: 'not_found' }, 404),
      [`GET /api/sagas/${orderId}`]: () =>
        json({ order_id: orderId, saga_id: 's', success: false, status, reason: null, saga_log: [] }),
    });
    const unknown = (await screen.findByText('Order outcome unknown')).closest('.notice') as HTMLElement;
    expect(await within(unknown).findByText(/has not been created yet; its saga is/)).toHaveTextContent('RUNNING');

    status = 'COMPENSATED'; // and no push says so
    const reads = fetch.callsTo('GET', `/api/sagas/${orderId}`).length;
    await vi.advanceTimersByTimeAsync(UNSETTLED_POLL_MS);
    const notice = await screen.findByRole('alert', { name: 'Order not placed' });
    expect(notice).toHaveTextContent('Order 0b7f3c1e was never created');
    expect(fetch.callsTo('GET', `/api/sagas/${orderId}`).length).toBeGreaterThan(reads);
  });

  it('reads an order it could not look up again, and learns from its saga that it was not placed', async () => {
    // found from outside: after one 503 neither the order nor its saga was read again
    vi.useFakeTimers({ shouldAdvanceTime: true, toFake: ['setInterval', 'clearInterval'] });
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    let down = true;
    await placeLaptopOrder({
      'POST /api/orders': sagaUnavailable(orderId),
      [`GET /api/orders/${orderId}`]: () =>
        down
          ? json({ detail: 'order-service did not answer', code: 'service_unavailable' }, 503)
          : json({ detail: `no order ${orderId}`, code: 'not_found' }, 404),
      [`GET /api/sagas/${orderId}`]: () =>
        down
          ? json({ detail: 'saga-service did not answer', code: 'service_unavailable' }, 503)
          : json({ order_id: orderId, saga_id: 's', success: false, status: 'COMPENSATED', reason: null, saga_log: [] }),
    });
    const unknown = (await screen.findByText('Order outcome unknown')).closest('.notice') as HTMLElement;
    expect(await within(unknown).findByText(/could not be looked up just now/, {}, { timeout: 5000 })).toBeInTheDocument();
    down = false; // and no push says what became of it
    await vi.advanceTimersByTimeAsync(UNSETTLED_POLL_MS);
    const notice = await screen.findByRole('alert', { name: 'Order not placed' }, { timeout: 5000 });
    expect(notice).toHaveTextContent('Order 0b7f3c1e was never created');
  });

  it('does not say the order a 503 names was never created when it could not be looked up', async () => {
    // found in review: any failed read said "has not been created (yet)"
    const orderId = '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a';
    await placeLaptopOrder({
      'POST /api/orders': sagaUnavailable(orderId),
      [`GET /api/orders/${orderId}`]: json(
        { detail: 'order-service did not answer', code: 'service_unavailable' },
        503,
      ),
    });
    const notice = (await screen.findByText('Order outcome unknown')).closest('.notice') as HTMLElement;
    expect(await within(notice).findByText(/could not be looked up just now/, {}, { timeout: 5000 })).toBeInTheDocument();
    expect(notice).not.toHaveTextContent('has not been created');
  });

  it('keeps the key of an order whose outcome is unknown while other orders are placed', async () => {
    const { user, fetch } = await setup((call) =>
      (call.body as { quantity: number }).quantity === 1 && fetch.callsTo('POST', '/api/orders').length === 1
        ? json({ detail: 'saga-service did not answer', code: 'service_unavailable' }, 503)
        : json({ order_id: '0b7f3c1e-8a55-5d0e-9c8b-1f2e3d4c5b6a', success: true, status: 'COMPLETED', saga_log: [] }),
    );
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order outcome unknown');
    const quantity = screen.getByLabelText('Quantity');
    await user.clear(quantity);
    await user.type(quantity, '2');
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order confirmed');
    await user.clear(quantity);
    await user.type(quantity, '1');
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await vi.waitFor(() => expect(fetch.callsTo('POST', '/api/orders')).toHaveLength(3));
    const keys = fetch.callsTo('POST', '/api/orders').map((c) => c.headers.get('Idempotency-Key'));
    expect(keys[1]).not.toEqual(keys[0]);
    expect(keys[2]).toEqual(keys[0]);
  });

  it('keeps the key of an order whose outcome is unknown across a reload of the page', async () => {
    const first = await setup(() => json({ detail: 'saga-service did not answer', code: 'service_unavailable' }, 503));
    await first.user.type(screen.getByLabelText('Customer name'), 'Sato');
    await first.user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await first.user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order outcome unknown');
    first.unmount();

    const { user, fetch } = await setup(() => json({ order_id: 'x', success: true, status: 'COMPLETED', saga_log: [] }));
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Earlier order confirmed');
    const [again] = fetch.callsTo('POST', '/api/orders');
    expect(again.headers.get('Idempotency-Key')).toEqual(first.fetch.callsTo('POST', '/api/orders')[0].headers.get('Idempotency-Key'));
  });
});

describe('an order whose outcome is unknown, kept in the tab', () => {
  const SENT = { customer_name: 'Sato', product_id: LAPTOP.id, quantity: 1 };

  async function sendAgain(stored: unknown) {
    const { sameOrder } = await import('./OrderForm');
    sessionStorage.setItem('unanswered-orders', JSON.stringify([[sameOrder(SENT), stored]]));
    const { user, fetch } = await setup(() => json({ order_id: 'x', success: true, status: 'COMPLETED', saga_log: [] }));
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText(/^(Earlier order|Order) confirmed$/);
    return fetch.callsTo('POST', '/api/orders')[0].headers.get('Idempotency-Key');
  }

  it('is sent again with its key within a day', async () => {
    expect(await sendAgain({ key: 'kept-key', sentAt: Date.now() - 60 * 60 * 1000 })).toBe('kept-key');
    expect(screen.getByText('Earlier order confirmed')).toBeInTheDocument();
  });

  it('is a new order after a day: its key is not kept for good', async () => {
    // a key kept with no expiry made the same details, in a tab left open for days, replay
    // the old order instead of placing one
    const key = await sendAgain({ key: 'kept-key', sentAt: Date.now() - 2 * 24 * 60 * 60 * 1000 });
    expect(key).toMatch(UUID);
    expect(screen.getByText('Order confirmed')).toBeInTheDocument();
    expect(sessionStorage.getItem('unanswered-orders')).not.toContain('kept-key');
  });

  it('is sent again with a key stored before its time was', async () => {
    expect(await sendAgain('kept-key')).toBe('kept-key');
  });
});

describe('an order sent before the page was loaded', () => {
  const CONFIRMED = json({ order_id: 'x', success: true, status: 'COMPLETED', saga_log: [] });
  const stored = () => JSON.parse(sessionStorage.getItem('unanswered-orders') ?? '[]') as unknown[];

  async function fillLaptopOrder(user: Awaited<ReturnType<typeof setup>>['user']) {
    await user.type(screen.getByLabelText('Customer name'), 'Sato');
    await user.selectOptions(screen.getByLabelText('Product'), LAPTOP.id);
  }

  /** A Laptop order sent, and the page reloaded before its answer came. */
  async function reloadMidOrder() {
    const first = await setup(() => new Promise<Reply>(() => {}));
    await fillLaptopOrder(first.user);
    await first.user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Running the saga…');
    first.unmount();
    return first.fetch.callsTo('POST', '/api/orders')[0].headers.get('Idempotency-Key');
  }

  it('is sent again with its key: the key is kept from the moment it is sent', async () => {
    // found from outside: a reload while the saga ran lost the key, and sending the same
    // details again placed a second order
    const key = await reloadMidOrder();
    const { user, fetch } = await setup(() => CONFIRMED);
    await fillLaptopOrder(user);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Earlier order confirmed');
    expect(fetch.callsTo('POST', '/api/orders')[0].headers.get('Idempotency-Key')).toEqual(key);
    // answered: forgotten, so the notice goes and the next order is a new one
    expect(stored()).toEqual([]);
    expect(screen.queryByText(/had no answer/)).not.toBeInTheDocument();
  });

  it('is named in a polite notice that says where its outcome shows', async () => {
    await reloadMidOrder();
    await setup();
    const notice = screen.getByRole('status', { name: 'An order sent before this page was loaded had no answer' });
    expect(notice).toHaveTextContent(/Sato: 1 × Laptop, sent at \d\d:\d\d:\d\d/);
    expect(notice).toHaveTextContent('It may have been placed');
    expect(notice).toHaveTextContent('Orders and Saga tabs');
    expect(notice).toHaveTextContent('Sending the same details again does not place it twice');
  });

  it('can be dismissed, which forgets its key: the same details are a new order after', async () => {
    // found from outside: dismissed, its key was kept, and the same details placed later
    // were answered with that old order, shown as if it were a new one
    const key = await reloadMidOrder();
    const { user, fetch } = await setup(() => CONFIRMED);
    const notice = screen.getByRole('status', { name: /had no answer/ });
    expect(notice).toHaveTextContent('Dismissing forgets it: the same details sent after that are a new order.');
    await user.click(screen.getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByText(/had no answer/)).not.toBeInTheDocument();
    // the button gone, the focus goes where the next order starts, not to <body>
    expect(screen.getByLabelText('Customer name')).toHaveFocus();
    expect(stored()).toEqual([]);
    await fillLaptopOrder(user);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order confirmed');
    expect(fetch.callsTo('POST', '/api/orders')[0].headers.get('Idempotency-Key')).not.toEqual(key);
    // and not said again after another reload
    cleanup();
    await setup();
    expect(screen.queryByText(/had no answer/)).not.toBeInTheDocument();
  });

  it('is said again after a reload once sent again without an answer', async () => {
    await reloadMidOrder();
    const { user, unmount } = await setup(() => new Promise<Reply>(() => {}));
    await user.click(screen.getByRole('button', { name: 'Dismiss' }));
    await fillLaptopOrder(user);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    // sent again from this page: this page follows it, so the notice does not repeat it
    await screen.findByText('Running the saga…');
    unmount();
    await setup();
    expect(screen.getByRole('status', { name: /had no answer/ })).toHaveTextContent('Sato: 1 × Laptop');
  });

  it('is forgotten once a refusal answers it: a refused order was not placed', async () => {
    const { user } = await setup(() => json({ detail: 'Invalid input.', code: 'invalid', errors: {} }, 400));
    await fillLaptopOrder(user);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Order not placed');
    expect(stored()).toEqual([]);
  });

  it('is not named for an order sent from this page', async () => {
    const { user } = await setup(() => new Promise<Reply>(() => {}));
    await fillLaptopOrder(user);
    await user.click(screen.getByRole('button', { name: 'Place order' }));
    await screen.findByText('Running the saga…');
    expect(screen.queryByText(/had no answer/)).not.toBeInTheDocument();
  });

  it('is named for an order whose outcome was unknown before the reload, as stored before this change', async () => {
    const { sameOrder } = await import('./OrderForm');
    sessionStorage.setItem(
      'unanswered-orders',
      JSON.stringify([
        [sameOrder({ customer_name: 'Sato', product_id: LAPTOP.id, quantity: 2 }), { key: 'k1', sentAt: Date.now() - 60_000 }],
        [sameOrder({ customer_name: 'Ito', product_id: MOUSE.id, quantity: 3 }), 'k2'],
      ]),
    );
    await setup();
    const notice = screen.getByRole('status', { name: 'Orders sent before this page was loaded had no answer' });
    const items = within(notice).getAllByRole('listitem');
    expect(items[0]).toHaveTextContent(/^Sato: 2 × Laptop, sent at \d\d:\d\d:\d\d/);
    // a key stored before its time was: no time is made up for it
    expect(items[1]).toHaveTextContent(/^Ito: 3 × Wireless Mouse, sent earlier$/);
    // names isolated: a right-to-left one would reorder the line around it
    expect(within(items[1]).getByText('Ito').tagName).toBe('BDI');
    expect(within(items[1]).getByText('Wireless Mouse').tagName).toBe('BDI');
    expect(notice).toHaveTextContent('They may have been placed');
  });
});

describe('sameOrder', () => {
  it('is the same for the same order however its faults were picked', async () => {
    const { sameOrder } = await import('./OrderForm');
    const base = { customer_name: 'Sato', product_id: LAPTOP.id, quantity: 1 };
    expect(sameOrder({ ...base, faults: { ConfirmOrder: 'fail', CreateOrder: 'timeout' } })).toEqual(
      sameOrder({ ...base, faults: { CreateOrder: 'timeout', ConfirmOrder: 'fail' } }),
    );
    expect(sameOrder(base)).not.toEqual(sameOrder({ ...base, quantity: 2 }));
  });
});
