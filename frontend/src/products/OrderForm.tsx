import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';

import {
  ApiError,
  type Faults,
  type PlaceOrderAnswer,
  type PlaceOrderInput,
  type Product,
  SAGA_STEPS,
  api,
  errorMessage,
  isTimeout,
  newIdempotencyKey,
} from '../api';
import { FieldError } from '../components/FieldError';
import { Notice } from '../components/Notice';
import { yen } from '../format';
import { queryKeys } from '../queryKeys';
import { FaultFieldset } from './FaultFieldset';
import { OrderResult } from './OrderResult';
import { SentBeforeLoad } from './SentBeforeLoad';
import { UnknownOutcome } from './UnknownOutcome';
import { type Unanswered, forget, loadUnanswered, recall, remember } from './unansweredOrders';
import {
  FIELD_ORDER,
  type FieldErrors,
  MAX_NAME_LENGTH,
  MAX_QUANTITY,
  type OrderField,
  quantityValue,
  serverFieldErrors,
  validQuantity,
  validateOrder,
} from './validation';

interface Props {
  products: readonly Product[];
  productId: string;
  onProductChange: (id: string) => void;
}

interface Submission {
  input: PlaceOrderInput;
  /** Its Idempotency-Key, and when the order was first sent with it. */
  idempotency: Unanswered;
  /** Sent before with that key, its outcome unknown: the answer is that earlier order's. */
  resent: boolean;
}

/** No answer, or a 5xx: the order may have been placed, or may still be. */
function outcomeUnknown(error: unknown): boolean {
  return (
    error instanceof TypeError || isTimeout(error) || (error instanceof ApiError && error.status >= 500)
  );
}

/** What identifies an order whose outcome is unknown, to send it again with its key: the
 * same details, however the faults were picked (their order in the object is the order they
 * were chosen in). */
export function sameOrder(input: PlaceOrderInput): string {
  const faults = input.faults && Object.fromEntries(Object.entries(input.faults).sort());
  return JSON.stringify({ ...input, faults });
}

/** What the BFF said against the faults chosen, if it refused them. */
function faultsRefusal(error: unknown): string | null {
  if (!(error instanceof ApiError)) return null;
  if (error.code === 'faults_disabled') return error.message;
  return error.fieldErrors.faults?.join(' ') || null;
}

/** A submit of the same details this soon after an answer that settled them is the second
 * click of a double-click (the answer can come within 30 ms), not an order: it is ignored.
 * The same order sent again later, on purpose, is a new order. */
export const DOUBLE_SUBMIT_MS = 1000;

const FIELD_IDS: Record<OrderField, string> = {
  customer_name: 'order-customer',
  product_id: 'order-product',
  quantity: 'order-quantity',
};

export function OrderForm({ products, productId, onProductChange }: Props) {
  const queryClient = useQueryClient();
  const formRef = useRef<HTMLFormElement>(null);
  const [customerName, setCustomerName] = useState('');
  const [quantity, setQuantity] = useState('1');
  const [faults, setFaults] = useState<Faults>({});
  const [submitted, setSubmitted] = useState(false);
  const [serverErrors, setServerErrors] = useState<FieldErrors>({});
  // The keys of orders with no answer yet, by what was sent: sending the same order again
  // reuses its key, so the BFF answers with that order instead of placing another.
  const [unanswered] = useState(() => loadUnanswered());
  // Those this page found when it loaded: their requests went with the page before, so this
  // page has to say what it knows of them.
  const [sentBeforeLoad, setSentBeforeLoad] = useState(() => [...unanswered]);
  // Set at once on submit, before React re-renders the button as aria-disabled.
  const sending = useRef(false);
  // The details last answered for good (their key forgotten), and when: see DOUBLE_SUBMIT_MS.
  // An answer that leaves the outcome unknown keeps the key, so a second click only sends
  // the same order again, which places nothing twice.
  const settled = useRef<{ sent: string; at: number } | null>(null);
  // The field to focus once a refusal (the browser's or the BFF's) is rendered: focused
  // after, so a screen reader reads it with aria-invalid and its message in place.
  const focusAfterRender = useRef<string | null>(null);
  useEffect(() => {
    const id = focusAfterRender.current;
    if (!id) return;
    focusAfterRender.current = null;
    formRef.current?.querySelector<HTMLElement>(`#${id}`)?.focus();
  });

  const mutation = useMutation<PlaceOrderAnswer, Error, Submission>({
    mutationFn: ({ input, idempotency }) => {
      // kept before the request leaves: a reload while it runs must not lose its key
      remember(unanswered, sameOrder(input), idempotency);
      return api.placeOrder(input, idempotency.key);
    },
    onSuccess: (_answer, { input }) => {
      forget(unanswered, sameOrder(input));
      settled.current = { sent: sameOrder(input), at: Date.now() };
    },
    onError: (error, { input }) => {
      // kept, unless the answer says it was not placed
      if (!outcomeUnknown(error)) {
        forget(unanswered, sameOrder(input));
        settled.current = { sent: sameOrder(input), at: Date.now() };
      }
      if (error instanceof ApiError) {
        const refused = serverFieldErrors(error.fieldErrors);
        setServerErrors(refused);
        // the first field in error, or the first fault chosen when faults were refused: where
        // the keyboard user has to act next (the alert alone leaves them on the button)
        const field = FIELD_ORDER.find((f) => refused[f]);
        const fault = faultsRefusal(error) ? SAGA_STEPS.find((step) => input.faults?.[step]) : undefined;
        focusAfterRender.current = field ? FIELD_IDS[field] : fault ? `fault-${fault}` : null;
      }
    },
    onSettled: () => {
      sending.current = false;
      void queryClient.invalidateQueries({ queryKey: queryKeys.products });
      void queryClient.invalidateQueries({ queryKey: queryKeys.ordersAll });
    },
  });

  const values = { customerName, productId, quantity };
  const clientErrors = submitted ? validateOrder(values) : {};
  const errorFor = (field: OrderField) => clientErrors[field] ?? serverErrors[field];

  const clearServerError = (field: OrderField) =>
    setServerErrors(({ [field]: _dropped, ...rest }) => rest);

  /** The order the form would send, if its values pass the checks. */
  const orderInput = (): PlaceOrderInput => {
    const input: PlaceOrderInput = {
      customer_name: customerName.trim(),
      product_id: productId,
      quantity: quantityValue(quantity),
    };
    if (Object.keys(faults).length > 0) input.faults = faults;
    return input;
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (sending.current) return;
    const errors = validateOrder(values);
    const firstInvalid = FIELD_ORDER.find((field) => errors[field]);
    const input = firstInvalid ? null : orderInput();
    const last = settled.current;
    // checked before anything changes: the answer it follows stays as it is shown
    if (input && last && last.sent === sameOrder(input) && Date.now() - last.at < DOUBLE_SUBMIT_MS) return;
    setSubmitted(true);
    setServerErrors({});
    if (!input) {
      // The last attempt's answer (a result, a refusal) is stale now that this one is refused
      // here, and would read as this one's. An outcome still unknown (its key still kept)
      // stays: its order may still be placed.
      const previous = mutation.variables;
      if (!(previous && unanswered.has(sameOrder(previous.input)))) mutation.reset();
      if (firstInvalid) focusAfterRender.current = FIELD_IDS[firstInvalid];
      return;
    }
    const sent = sameOrder(input);
    // a key sent again keeps the time it was first sent: its age is its order's
    const again = recall(unanswered, sent);
    sending.current = true;
    // this page follows it now
    setSentBeforeLoad((orders) => orders.filter(([before]) => before !== sent));
    const idempotency = again ?? { key: newIdempotencyKey(), sentAt: Date.now() };
    mutation.mutate({ input, idempotency, resent: !!again });
  };

  // An unknown outcome learnt since (the order a 503 named was confirmed, say): its key is
  // forgotten, so the same details later are a new order, not that one answered again.
  const sentUnanswered = mutation.variables?.input;
  const forgetLearnt = useCallback(() => {
    if (sentUnanswered) forget(unanswered, sameOrder(sentUnanswered));
  }, [unanswered, sentUnanswered]);

  const dismissSentBeforeLoad = () => {
    // said and dismissed: forgotten, so the same details are a new order from now on
    forget(unanswered, ...sentBeforeLoad.map(([sent]) => sent));
    setSentBeforeLoad([]);
    // the Dismiss button is gone: the focus goes where the next order starts, not to <body>
    formRef.current?.querySelector<HTMLElement>(`#${FIELD_IDS.customer_name}`)?.focus();
  };

  const product = products.find((p) => p.id === productId);
  const qty = validQuantity(quantity); // the hint prices only what the form would send
  const error = mutation.error;
  const faultsRefused = error instanceof ApiError && error.code === 'faults_disabled';
  const faultsRefusalText = faultsRefusal(error);
  const unknown = outcomeUnknown(error);

  const describedBy = (field: OrderField, hint?: string) =>
    [hint, errorFor(field) ? `${FIELD_IDS[field]}-error` : null].filter(Boolean).join(' ') ||
    undefined;

  return (
    <div className="order-form">
      <form ref={formRef} noValidate onSubmit={onSubmit} aria-labelledby="order-form-heading">
        <h2 id="order-form-heading" className="section-title">
          Place an order
        </h2>
        <div className="field">
          <label htmlFor={FIELD_IDS.customer_name}>Customer name</label>
          <input
            id={FIELD_IDS.customer_name}
            name="customer_name"
            type="text"
            autoComplete="name"
            // room for 200 characters of up to four UTF-16 units each (an emoji is two, a
            // letter typed with its accents apart three or more), and a few over to refuse:
            // the BFF counts them once composed (NFC), and so does validateOrder
            maxLength={MAX_NAME_LENGTH * 4 + 50}
            value={customerName}
            aria-invalid={!!errorFor('customer_name')}
            aria-describedby={describedBy('customer_name')}
            onChange={(event) => {
              setCustomerName(event.target.value);
              clearServerError('customer_name');
            }}
          />
          <FieldError id={`${FIELD_IDS.customer_name}-error`} message={errorFor('customer_name')} />
        </div>

        <div className="field">
          <label htmlFor={FIELD_IDS.product_id}>Product</label>
          <select
            id={FIELD_IDS.product_id}
            name="product_id"
            value={productId}
            aria-invalid={!!errorFor('product_id')}
            aria-describedby={describedBy('product_id')}
            onChange={(event) => {
              onProductChange(event.target.value);
              clearServerError('product_id');
            }}
          >
            <option value="">Choose a product…</option>
            {products.map((p) => (
              <option key={p.id} value={p.id}>
                {/* an option holds text only: the name is isolated by the characters <bdi>
                    stands for (FSI … PDI), so a right-to-left one keeps the price after it */}
                {`\u2068${p.product_name}\u2069 — ${yen(p.price)} (${p.available} available)`}
              </option>
            ))}
          </select>
          <FieldError id={`${FIELD_IDS.product_id}-error`} message={errorFor('product_id')} />
        </div>

        <div className="field">
          <label htmlFor={FIELD_IDS.quantity}>Quantity</label>
          <input
            id={FIELD_IDS.quantity}
            name="quantity"
            // text, not number: a number input hides what was typed when it is not a number
            // ("abc" reads as empty), so the error could not say what is wrong with it
            type="text"
            inputMode="numeric"
            autoComplete="off"
            value={quantity}
            aria-invalid={!!errorFor('quantity')}
            aria-describedby={describedBy('quantity', 'order-quantity-hint')}
            onChange={(event) => {
              setQuantity(event.target.value);
              clearServerError('quantity');
            }}
          />
          <p id="order-quantity-hint" className="hint">
            A whole number from 1 to {MAX_QUANTITY.toLocaleString('en-US')}.
            {product && qty !== null ? <> Total {yen(product.price * qty)}.</> : null}
            {product && qty !== null && qty > product.available ? (
              <strong className="hint--warn">
                {' '}
                Only {product.available} available: the reservation will be refused and the saga
                will compensate.
              </strong>
            ) : null}
          </p>
          <FieldError id={`${FIELD_IDS.quantity}-error`} message={errorFor('quantity')} />
        </div>

        <FaultFieldset
          faults={faults}
          onChange={setFaults}
          refusal={faultsRefusalText}
        />

        <div className="form-actions">
          {/* aria-disabled, not disabled: a disabled button drops the focus to <body> while
              the saga runs; onSubmit ignores a press while an order is being sent */}
          <button type="submit" className="button" aria-disabled={mutation.isPending}>
            Place order
          </button>
          {mutation.isPending ? (
            <span className="muted" role="status">
              Running the saga…
            </span>
          ) : null}
        </div>
      </form>

      <SentBeforeLoad orders={sentBeforeLoad} products={products} onDismiss={dismissSentBeforeLoad} />
      {error && unknown ? <UnknownOutcome error={error} onLearnt={forgetLearnt} /> : null}
      {error && !unknown ? (
        <Notice tone="danger" title="Order not placed">
          <p>{errorMessage(error)}</p>
          {faultsRefused ? <p>Set every fault to “none” to place the order normally.</p> : null}
          {error instanceof ApiError && error.fieldErrors.faults ? (
            <p>Faults: {error.fieldErrors.faults.join(' ')}</p>
          ) : null}
        </Notice>
      ) : null}
      {mutation.data && !error ? (
        <OrderResult
          result={mutation.data}
          earlier={mutation.variables?.resent ? mutation.variables.idempotency : undefined}
        />
      ) : null}
    </div>
  );
}
