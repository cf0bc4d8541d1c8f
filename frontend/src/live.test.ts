import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { LiveClient, backoffDelay, liveUrl } from './live';
import { fakeSockets } from './test/fakeWebSocket';

describe('liveUrl', () => {
  it('uses the page host and a matching scheme', () => {
    expect(liveUrl({ protocol: 'http:', host: '127.0.0.1:8000' })).toBe('ws://127.0.0.1:8000/ws/orders/');
    expect(liveUrl({ protocol: 'https:', host: 'shop.example' })).toBe('wss://shop.example/ws/orders/');
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt within jitter and caps at the maximum', () => {
    expect(backoffDelay(0, 500, 10_000, () => 0)).toBe(250);
    expect(backoffDelay(0, 500, 10_000, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, 10_000, () => 1)).toBe(4000);
    expect(backoffDelay(10, 500, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelay(10, 500, 10_000, () => 0)).toBe(5000);
  });
});

describe('LiveClient', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function client(options = {}) {
    const fake = fakeSockets();
    const live = new LiveClient({
      url: 'ws://test/ws/orders/',
      createSocket: fake.factory,
      random: () => 1,
      ...options,
    });
    const states: string[] = [];
    live.subscribeState(() => states.push(live.getState()));
    return { live, states, ...fake };
  }

  it('connects, relays messages and ignores junk', () => {
    const { live, last } = client();
    const received: unknown[] = [];
    live.onMessage((m) => received.push(m));
    live.start();
    expect(live.getState()).toBe('connecting');
    last().open();
    expect(live.getState()).toBe('live');
    last().receive({ type: 'snapshot', orders: [] });
    last().receiveRaw('not json');
    last().receiveRaw('{"no": "type"}');
    last().receive({ type: 'pong' });
    expect(received).toEqual([{ type: 'snapshot', orders: [] }]);
    live.stop();
  });

  it('relays each message of a batch frame in order, skipping junk inside it', () => {
    const { live, last } = client();
    const received: unknown[] = [];
    live.onMessage((m) => received.push(m));
    live.start();
    last().open();
    const created = { type: 'order.status', order_id: 'o1', status: 'PENDING', position: 1 };
    const step = { type: 'saga.step', order_id: 'o1', step: 1, status: 'STARTED', position: 2 };
    last().receiveRaw(JSON.stringify([created, { no: 'type' }, step]));
    expect(received).toEqual([created, step]);
    live.stop();
  });

  it('reconnects with exponential backoff capped at 10 s, and resets after a success', () => {
    const { live, sockets, last, states } = client({ offlineAfter: 100 });
    live.start();
    last().open();
    last().drop();
    expect(live.getState()).toBe('reconnecting');

    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      const before = sockets.length;
      let waited = 0;
      while (sockets.length === before) {
        vi.advanceTimersByTime(50);
        waited += 50;
      }
      waits.push(waited);
      last().drop();
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);

    vi.advanceTimersByTime(10_000);
    last().open();
    expect(live.getState()).toBe('live');
    last().receive({ type: 'snapshot', orders: [] });
    last().drop();
    vi.advanceTimersByTime(500);
    expect(sockets).toHaveLength(10);
    expect(states).toEqual(['live', 'reconnecting', 'live', 'reconnecting']);
    live.stop();
  });

  it('backs off from a server that accepts each socket and drops it before a word', () => {
    // found in review: the backoff was reset on open, so such a server was hit twice a
    // second for good, the badge flipping between Live and Reconnecting
    const { live, sockets, last, states } = client({ offlineAfter: 3 });
    live.start();
    for (let i = 0; i < 60; i++) {
      last().open();
      last().drop();
      vi.advanceTimersByTime(500);
    }
    expect(sockets.length).toBeLessThan(15);
    expect(states).toContain('offline');
    live.stop();
  });

  it('reads offline after repeated failures but keeps trying', () => {
    const { live, sockets, last } = client({ offlineAfter: 2 });
    live.start();
    last().drop();
    expect(live.getState()).toBe('reconnecting');
    vi.advanceTimersByTime(500);
    last().drop();
    vi.advanceTimersByTime(1000);
    last().drop();
    expect(live.getState()).toBe('offline');
    vi.advanceTimersByTime(2000);
    expect(sockets).toHaveLength(4);
    last().open();
    expect(live.getState()).toBe('live');
    live.stop();
  });

  it('drops a connection that stops answering pings', () => {
    const { live, sockets, last } = client({ pingIntervalMs: 1000, pingTimeoutMs: 500 });
    live.start();
    last().open();
    vi.advanceTimersByTime(1000);
    expect(last().sent).toEqual(['{"type":"ping"}']);
    last().receive({ type: 'pong' });
    vi.advanceTimersByTime(1000);
    expect(last().closed).toBe(false);
    vi.advanceTimersByTime(500);
    expect(sockets[0].closed).toBe(true);
    expect(live.getState()).toBe('reconnecting');
    vi.advanceTimersByTime(500);
    expect(sockets).toHaveLength(2);
    live.stop();
  });

  it('stops cleanly', () => {
    const { live, sockets, last } = client();
    live.start();
    last().open();
    live.stop();
    expect(last().closed).toBe(true);
    expect(live.getState()).toBe('offline');
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });
});
