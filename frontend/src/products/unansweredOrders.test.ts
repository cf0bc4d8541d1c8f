import { describe, expect, it } from 'vitest';

import { UNANSWERED_KEPT_MS, forget, loadUnanswered, recall, remember, sentDetails } from './unansweredOrders';

const NOW = Date.parse('2026-11-25T10:00:00Z');
const HOUR = 60 * 60 * 1000;

const stored = () => JSON.parse(sessionStorage.getItem('unanswered-orders') ?? 'null') as unknown;

describe('unanswered orders', () => {
  it('keeps a key with the time it was first sent, across a reload', () => {
    remember(loadUnanswered(NOW), 'order A', { key: 'k1', sentAt: NOW });
    expect(loadUnanswered(NOW + HOUR).get('order A')).toEqual({ key: 'k1', sentAt: NOW });
  });

  it('drops a key older than a day, well within the 7 days the services keep commands', () => {
    expect(UNANSWERED_KEPT_MS).toBeLessThanOrEqual(7 * 24 * HOUR);
    const unanswered = loadUnanswered(NOW);
    remember(unanswered, 'order A', { key: 'k1', sentAt: NOW - UNANSWERED_KEPT_MS });
    remember(unanswered, 'order B', { key: 'k2', sentAt: NOW - HOUR });
    const reloaded = loadUnanswered(NOW);
    expect([...reloaded.keys()]).toEqual(['order B']);
    // and the storage forgets it too
    expect(stored()).toEqual([['order B', { key: 'k2', sentAt: NOW - HOUR }]]);
  });

  it('does not reuse a key that grew too old while the page stayed open', () => {
    const unanswered = loadUnanswered(NOW);
    remember(unanswered, 'order A', { key: 'k1', sentAt: NOW });
    expect(recall(unanswered, 'order A', NOW + HOUR)?.key).toBe('k1');
    expect(recall(unanswered, 'order A', NOW + UNANSWERED_KEPT_MS)).toBeUndefined();
    expect(loadUnanswered(NOW).size).toBe(0);
  });

  it('reads a bare key, stored before its time was, as sent now', () => {
    // its age is unknown, but its tab is open: dropping it could place its order twice
    sessionStorage.setItem('unanswered-orders', JSON.stringify([['order A', 'k1']]));
    const unanswered = loadUnanswered(NOW);
    expect(unanswered.get('order A')).toEqual({ key: 'k1', sentAt: NOW, sentAtUnknown: true });
    // still known to be a guess after another reload: the page must not name a time for it
    expect(loadUnanswered(NOW + HOUR).get('order A')).toEqual({ key: 'k1', sentAt: NOW, sentAtUnknown: true });
    expect(loadUnanswered(NOW + UNANSWERED_KEPT_MS).size).toBe(0);
  });

  it.each(['not json', '{"a": 1}', '[["order A", {"key": 7}], [1, "k"], "x", ["order B", null]]'])(
    'reads what it cannot make sense of (%s) as no keys',
    (text) => {
      sessionStorage.setItem('unanswered-orders', text);
      expect(loadUnanswered(NOW).size).toBe(0);
    },
  );

  it('forgets an answered order', () => {
    const unanswered = loadUnanswered(NOW);
    remember(unanswered, 'order A', { key: 'k1', sentAt: NOW });
    forget(unanswered, 'order A');
    expect(loadUnanswered(NOW).size).toBe(0);
  });

  it('reads back the details an order was sent with, from what names it', () => {
    const sent = { customer_name: 'Sato', product_id: 'p1', quantity: 2, faults: { CreateOrder: 'fail' } };
    expect(sentDetails(JSON.stringify(sent))).toEqual(sent);
    expect(sentDetails(JSON.stringify({ customer_name: 'Sato', product_id: 'p1', quantity: 2 }))).toEqual({
      customer_name: 'Sato',
      product_id: 'p1',
      quantity: 2,
    });
    for (const odd of ['order A', '[]', '{"customer_name": "Sato"}', '{"customer_name": 1, "product_id": "p", "quantity": 1}'])
      expect(sentDetails(odd)).toBeNull();
  });

  it('forgets keys dismissed when dismissing kept them: dismissing forgets now', () => {
    // found from outside: a dismissed order's key was kept, so the same details placed
    // later were answered with that old order, shown as a new one
    sessionStorage.setItem(
      'unanswered-orders',
      JSON.stringify([
        ['order A', { key: 'k1', sentAt: NOW, dismissed: true }],
        ['order B', { key: 'k2', sentAt: NOW }],
      ]),
    );
    const reloaded = loadUnanswered(NOW + HOUR);
    expect([...reloaded]).toEqual([['order B', { key: 'k2', sentAt: NOW }]]);
  });

  it('forgets several at once, for good', () => {
    const unanswered = loadUnanswered(NOW);
    remember(unanswered, 'order A', { key: 'k1', sentAt: NOW });
    remember(unanswered, 'order B', { key: 'k2', sentAt: NOW });
    remember(unanswered, 'order C', { key: 'k3', sentAt: NOW });
    forget(unanswered, 'order A', 'order C');
    expect([...loadUnanswered(NOW)]).toEqual([['order B', { key: 'k2', sentAt: NOW }]]);
  });
});
