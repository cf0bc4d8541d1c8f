/**
 * The keys of orders whose outcome is unknown, by what was sent (see `sameOrder`): sending
 * the same order again reuses its key, so the BFF answers with that order instead of placing
 * another. Kept for the browser tab's session, so a reload does not lose them either.
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
  if (typeof stored === 'string') return { key: stored, sentAt: now };
  if (typeof stored !== 'object' || stored === null) return null;
  const { key, sentAt } = stored as Partial<Unanswered>;
  return typeof key === 'string' && typeof sentAt === 'number' ? { key, sentAt } : null;
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

export function forget(unanswered: UnansweredOrders, sent: string): void {
  if (unanswered.delete(sent)) save(unanswered);
}
