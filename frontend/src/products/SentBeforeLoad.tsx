import type { Product } from '../api';
import { Notice } from '../components/Notice';
import { shortId } from '../format';
import { type Unanswered, sentDetails } from './unansweredOrders';

interface Props {
  /** Orders this tab sent before the page was loaded, by what was sent, still unanswered. */
  orders: readonly (readonly [string, Unanswered])[];
  products: readonly Product[];
  onDismiss: () => void;
}

const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dayAndClock = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** When it was sent: a key is kept a day, so one sent yesterday says so. */
export function sentWhen({ sentAt, sentAtUnknown }: Unanswered): string {
  if (sentAtUnknown) return 'sent earlier';
  const sent = new Date(sentAt);
  const today = new Date().toDateString() === sent.toDateString();
  return `sent at ${(today ? clock : dayAndClock).format(sent)}`;
}

function Described({ sent, entry, products }: { sent: string; entry: Unanswered; products: readonly Product[] }) {
  const details = sentDetails(sent);
  if (!details) return <>{sentWhen(entry)}</>;
  // the catalog may not have loaded (yet): the product's id is all that was sent
  const name = products.find((p) => p.id === details.product_id)?.product_name;
  const faults = Object.entries(details.faults ?? {}).map(([step, mode]) => `${step} ${mode}`);
  const withFaults = faults.length > 0 ? ` (faults: ${faults.join(', ')})` : '';
  // names isolated: a right-to-left one would otherwise reorder the text around it
  return (
    <>
      <bdi>{details.customer_name}</bdi>: {details.quantity} ×{' '}
      {name ? <bdi>{name}</bdi> : `product ${shortId(details.product_id)}`}
      {withFaults}, {sentWhen(entry)}
    </>
  );
}

/** After a reload (or a tab restored) while an order was on its way, or had no answer: the
 * new page knows nothing of its request, so it says what it does know. */
export function SentBeforeLoad({ orders, products, onDismiss }: Props) {
  if (orders.length === 0) return null;
  const one = orders.length === 1;
  return (
    <Notice
      tone="info"
      title={
        one
          ? 'An order sent before this page was loaded had no answer'
          : 'Orders sent before this page was loaded had no answer'
      }
      onDismiss={onDismiss}
    >
      <ul className="notice__list">
        {orders.map(([sent, entry]) => (
          <li key={entry.key}>
            <Described sent={sent} entry={entry} products={products} />
          </li>
        ))}
      </ul>
      <p>
        {one
          ? 'It may have been placed, or may still be: its outcome shows'
          : 'They may have been placed, or may still be: their outcomes show'}{' '}
        in the Orders and Saga tabs, which update live.
      </p>
      <p>
        Sending the same details again does not place {one ? 'it' : 'one'} twice: it goes with the
        same key, and the BFF answers with that order’s result. Dismissing forgets{' '}
        {one ? 'it' : 'them'}: the same details sent after that are a new order.
      </p>
    </Notice>
  );
}
