import type { PlaceOrderInput } from '../api';

/**
 * The keys of orders with no answer yet, by what was sent (see `sameOrder`): kept from the
 * moment an order is sent until an answer, or news of the order, says what became of it, or
 * the user dismisses it; so sending the same order again meanwhile reuses its key and the
 * BFF answers with that order instead of placing another. Once forgotten, the same details
 * are a new order. Kept for the browser tab's session, so a reload, even one while the order
 * is on its way, does not lose them either.
 */
const STORAGE_KEY = 'unanswered-orders';

/**
 * How long a key is reused. The services keep a command's outcome 7 days
 * (`EVENTKIT["COMMAND_RETENTION_DAYS"]`); a day is well within that, long enough to send
 * again after an outage, and short enough that the same details in a tab left open since
 * last week place a new order, not replay last week's.
 */
export const UNANSWERED_KEPT_MS = 24 * 60 * 60 * 1000;

export interface Unanswered {
  key: string;
  /** When the order was first sent with this key (ms since the epoch). */
  sentAt: number;
  /** A key stored before `sentAt` was: `sentAt` is when it was first read, not sent. */
  sentAtUnknown?: true;
}

export type UnansweredOrders = Map<string, Unanswered>;

function save(unanswered: UnansweredOrders): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify([...unanswered]));
  } catch {
    // storage unavailable or full: the keys live as long as the page
  }
}

/** An entry as stored: `{key, sentAt}`, or before `sentAt` was kept, the bare key. */
function entryOf(stored: unknown, now: number): Unanswered | null {
  // A bare key's age is unknown, but its tab is still open: counted from now, as dropping
  // it could place its order twice.
  if (typeof stored === 'string') return { key: stored, sentAt: now, sentAtUnknown: true };
  if (typeof stored !== 'object' || stored === null) return null;
  const { key, sentAt, sentAtUnknown, dismissed } = stored as Partial<Unanswered> & { dismissed?: unknown };
  if (typeof key !== 'string' || typeof sentAt !== 'number') return null;
  // dismissed when dismissing kept the key (and replayed the order for the same details
  // later): dismissing forgets it now, so it is forgotten
  if (dismissed === true) return null;
  const entry: Unanswered = { key, sentAt };
  if (sentAtUnknown === true) entry.sentAtUnknown = true;
  return entry;
}

const fresh = (entry: Unanswered, now: number) => now - entry.sentAt < UNANSWERED_KEPT_MS;

/** The keys kept in this tab, without those too old to reuse (which are dropped). */
export function loadUnanswered(now = Date.now()): UnansweredOrders {
  let stored: unknown;
  try {
    stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? '[]');
  } catch {
    return new Map();
  }
  const unanswered: UnansweredOrders = new Map();
  if (!Array.isArray(stored)) return unanswered;
  for (const pair of stored) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string') continue;
    const entry = entryOf(pair[1], now);
    if (entry && fresh(entry, now)) unanswered.set(pair[0], entry);
  }
  save(unanswered);
  return unanswered;
}

/** The key to send ``sent`` with again, unless it is too old to reuse (then dropped). */
export function recall(unanswered: UnansweredOrders, sent: string, now = Date.now()): Unanswered | undefined {
  const entry = unanswered.get(sent);
  if (!entry || fresh(entry, now)) return entry;
  forget(unanswered, sent);
  return undefined;
}

export function remember(unanswered: UnansweredOrders, sent: string, entry: Unanswered): void {
  unanswered.set(sent, entry);
  save(unanswered);
}

/** Its outcome is known, or the user dismissed it: the same details are a new order. */
export function forget(unanswered: UnansweredOrders, ...sents: readonly string[]): void {
  let changed = false;
  for (const sent of sents) changed = unanswered.delete(sent) || changed;
  if (changed) save(unanswered);
}

/** The details an order was sent with, read back from what names it (`sameOrder`); null
 * for a name that is not one. */
export function sentDetails(sent: string): PlaceOrderInput | null {
  let details: unknown;
  try {
    details = JSON.parse(sent);
  } catch {
    return null;
  }
  if (typeof details !== 'object' || details === null) return null;
  const { customer_name, product_id, quantity, faults } = details as Partial<PlaceOrderInput>;
  if (typeof customer_name !== 'string' || typeof product_id !== 'string' || typeof quantity !== 'number')
    return null;
  const input: PlaceOrderInput = { customer_name, product_id, quantity };
  if (typeof faults === 'object' && faults !== null) input.faults = faults;
  return input;
}
