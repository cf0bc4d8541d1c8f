/**
 * The websocket client for `/ws/orders/`: one connection for the whole page, reconnected
 * with exponential backoff (full jitter, capped at 10 s). On every (re)connect the server
 * sends a `snapshot` first; listeners use it to refetch whatever may have been missed.
 *
 * A connection that stays up can still miss pushes: the BFF's feed could not send them
 * (Redis down or hung), and the web process, which answers pings by itself, does not know.
 * The feed's numbered `heartbeat`s tell: a gap in a feed's numbers, or a feed that starts
 * while we watch, means pushes may be lost; no heartbeat from a feed for three of its
 * intervals means it cannot send. Either way the client reconnects, for a new snapshot.
 */
import type { LiveMessage } from './api';

/** `connecting` before the first open; `offline` when the browser is offline or retries keep
 * failing; `stalled` from a silent feed until a feed is heard again (reconnecting meanwhile). */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'stalled' | 'offline';

/** The part of the browser's WebSocket the client uses, so tests can inject a fake. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface LiveClientOptions {
  url: string;
  createSocket?: WebSocketFactory;
  /** First retry delay; doubles per failed attempt. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Consecutive failed attempts after which the state reads `offline` (retries go on). */
  offlineAfter?: number;
  /** A ping is sent this often; no answer to it within `pingTimeoutMs` drops the socket. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** How often the feed beats until a heartbeat says (its `interval_ms`). */
  heartbeatIntervalMs?: number;
  /** Intervals without a heartbeat from a feed after which the connection is renewed. */
  heartbeatMisses?: number;
  random?: () => number;
}

/** The BFF feed's beat: `seq` counts its heartbeats and the pushes it could not send; `feed`
 * names one start of one feed process. */
interface Heartbeat {
  type: 'heartbeat';
  seq: number;
  feed: string;
  interval_ms?: number;
}

type MessageListener = (message: LiveMessage) => void;
type StateListener = () => void;

const OPEN = 1;

export function liveUrl(location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/orders/`;
}

/** Delay before retry number `attempt` (0-based): full jitter over an exponential cap. */
export function backoffDelay(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  // Never retry instantly: at least half the ceiling, so a dead server is not hammered.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function isHeartbeat(value: unknown): value is Heartbeat {
  const beat = value as Partial<Heartbeat> | null;
  return (
    typeof beat === 'object' &&
    beat !== null &&
    beat.type === 'heartbeat' &&
    typeof beat.seq === 'number' &&
    typeof beat.feed === 'string'
  );
}

function isLiveMessage(value: unknown): value is LiveMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}

export class LiveClient {
  private readonly options: Required<Omit<LiveClientOptions, 'createSocket'>> & {
    createSocket: WebSocketFactory;
  };
  private socket: WebSocketLike | null = null;
  private state: ConnectionState = 'connecting';
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  /** Per feed, the timer that fires when it has been silent too long; '' before any beat. */
  private readonly silenceTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Per feed, its last number heard since this connection's snapshot. */
  private readonly lastSeq = new Map<string, number>();
  private snapshotSeen = false;
  /** A feed went silent; cleared once one is heard again after a snapshot. */
  private stalled = false;
  private running = false;
  private readonly messageListeners = new Set<MessageListener>();
  private readonly stateListeners = new Set<StateListener>();

  constructor(options: LiveClientOptions) {
    this.options = {
      baseDelayMs: 500,
      maxDelayMs: 10_000,
      offlineAfter: 6,
      pingIntervalMs: 25_000,
      pingTimeoutMs: 10_000,
      heartbeatIntervalMs: 5000,
      heartbeatMisses: 3,
      random: Math.random,
      createSocket: (url) => new WebSocket(url),
      ...options,
    };
  }

  getState = (): ConnectionState => this.state;

  /** For `useSyncExternalStore`. */
  subscribeState = (listener: StateListener): (() => void) => {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  };

  onMessage(listener: MessageListener): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this.handleOnline);
      window.addEventListener('offline', this.handleOffline);
    }
    this.connect();
  }

  stop(): void {
    this.running = false;
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this.handleOnline);
      window.removeEventListener('offline', this.handleOffline);
    }
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      this.detach(socket);
      socket.close(1000, 'client stopped');
    }
    this.stalled = false;
    this.setState('offline');
  }

  /** Drop the connection and reconnect at once (used when the browser comes back online). */
  reconnectNow(): void {
    if (!this.running) return;
    this.attempt = 0;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      this.detach(socket);
      socket.close(4000, 'reconnecting');
    }
    this.connect();
  }

  private connect(): void {
    if (!this.running) return;
    let socket: WebSocketLike;
    try {
      socket = this.options.createSocket(this.options.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.setState(this.stalled ? 'stalled' : 'live');
      this.startPing(socket);
      this.lastSeq.clear();
      this.snapshotSeen = false;
      // A feed that is down from the start is as silent as one that stops.
      this.expectBeat(socket, '', this.options.heartbeatIntervalMs);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      // A connection counts as made once something came over it (the snapshot first): a
      // server that accepts and then drops each socket is backed off from, not hit twice
      // a second for good.
      // ... unless the feed is silent: then each socket is made and dropped again, and the
      // pause between them grows as for a server that refuses them.
      if (!this.stalled) this.attempt = 0;
      this.clearPongTimer();
      this.dispatch(socket, event.data);
    };
    socket.onerror = () => {
      // A close event always follows; retrying is handled there.
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.stopPing();
      this.stopSilenceTimers();
      this.scheduleRetry();
    };
  }

  private dispatch(socket: WebSocketLike, data: unknown): void {
    if (typeof data !== 'string') return;
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    // Changes arrive as arrays (one frame per batch the BFF's feed applied); the snapshot
    // and pong as single objects.
    for (const item of Array.isArray(message) ? message : [message]) {
      if (isHeartbeat(item)) {
        if (!this.heard(socket, item)) return; // dropped: the rest is moot
        continue;
      }
      if (!isLiveMessage(item) || item.type === 'pong') continue;
      if (item.type === 'snapshot') {
        this.snapshotSeen = true;
        this.lastSeq.clear();
      }
      for (const listener of this.messageListeners) listener(item);
    }
  }

  /** Take in a heartbeat; false if it showed pushes may be lost and the socket was dropped. */
  private heard(socket: WebSocketLike, beat: Heartbeat): boolean {
    this.expectBeat(socket, beat.feed, beat.interval_ms ?? this.options.heartbeatIntervalMs);
    if (!this.snapshotSeen) return true; // nothing to resync yet: the snapshot is to come
    const last = this.lastSeq.get(beat.feed);
    // A feed first heard at 1 started while we watched: perhaps in place of one that died
    // between a commit and its push. One heard first later was beating before the snapshot
    // (a competing worker, or our first beat after connecting): it is the base.
    const lost =
      last === undefined ? beat.seq === 1 && this.lastSeq.size > 0 : beat.seq !== last + 1;
    if (lost) {
      this.renew(socket, 4002, 'missed pushes', beat.interval_ms ?? this.options.heartbeatIntervalMs);
      return false;
    }
    this.lastSeq.set(beat.feed, beat.seq);
    if (this.stalled) {
      this.stalled = false;
      this.setState('live');
    }
    return true;
  }

  /** (Re)arm the silence timer of ``feed``; the timer of "no beat yet" goes once one comes. */
  private expectBeat(socket: WebSocketLike, feed: string, intervalMs: number): void {
    for (const key of feed === '' ? [''] : ['', feed]) {
      const timer = this.silenceTimers.get(key);
      if (timer !== undefined) clearTimeout(timer);
      this.silenceTimers.delete(key);
    }
    this.silenceTimers.set(
      feed,
      setTimeout(() => {
        this.silenceTimers.delete(feed);
        this.stalled = true;
        this.renew(socket, 4003, 'feed silent', intervalMs);
      }, intervalMs * this.options.heartbeatMisses),
    );
  }

  private stopSilenceTimers(): void {
    for (const timer of this.silenceTimers.values()) clearTimeout(timer);
    this.silenceTimers.clear();
  }

  /** Drop ``socket`` (if still ours) and reconnect after the backoff, for a new snapshot.
   * ``spreadMs``: a further pause of up to that long, for renewals every client makes at
   * once (a feed that restarted or fell silent is heard by all of them in the same beat),
   * so that their snapshots do not all reach the BFF in the same moment. */
  private renew(socket: WebSocketLike, code: number, reason: string, spreadMs = 0): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.detach(socket);
    socket.close(code, reason);
    this.stopPing();
    this.stopSilenceTimers();
    this.scheduleRetry(spreadMs);
  }

  private scheduleRetry(spreadMs = 0): void {
    if (!this.running) return;
    const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
    // Stalled is what we know after a silent feed: the BFF may well be up, and refusing
    // sockets only because its Redis is down.
    this.setState(
      offline
        ? 'offline'
        : this.stalled
          ? 'stalled'
          : this.attempt >= this.options.offlineAfter
            ? 'offline'
            : 'reconnecting',
    );
    const delay =
      backoffDelay(this.attempt, this.options.baseDelayMs, this.options.maxDelayMs, this.options.random) +
      Math.round(this.options.random() * spreadMs);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private startPing(socket: WebSocketLike): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (socket.readyState !== OPEN) return;
      socket.send(JSON.stringify({ type: 'ping' }));
      if (this.pongTimer === null) {
        this.pongTimer = setTimeout(() => {
          // Half-open connection: nothing came back. Close it and reconnect.
          this.pongTimer = null;
          this.renew(socket, 4001, 'ping timeout');
        }, this.options.pingTimeoutMs);
      }
    }, this.options.pingIntervalMs);
  }

  private clearPongTimer(): void {
    if (this.pongTimer !== null) {
      clearTimeout(this.pongTimer);
      this.pongTimer = null;
    }
  }

  private stopPing(): void {
    if (this.pingTimer !== null) {
      clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
    this.clearPongTimer();
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.stopPing();
    this.stopSilenceTimers();
  }

  private detach(socket: WebSocketLike): void {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener();
  }

  private handleOnline = (): void => this.reconnectNow();

  private handleOffline = (): void => {
    if (this.state !== 'live') this.setState('offline');
  };
}
