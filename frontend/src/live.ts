/**
 * The websocket client for `/ws/orders/`: one connection for the whole page, reconnected
 * with exponential backoff (full jitter, capped at 10 s). On every (re)connect the server
 * sends a `snapshot` first; listeners use it to refetch whatever may have been missed.
 */
import type { LiveMessage } from './api';

/** `connecting` before the first open; `offline` when the browser is offline or retries keep failing. */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

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
  random?: () => number;
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
      this.setState('live');
      this.startPing(socket);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      // A connection counts as made once something came over it (the snapshot first): a
      // server that accepts and then drops each socket is backed off from, not hit twice
      // a second for good.
      this.attempt = 0;
      this.clearPongTimer();
      this.dispatch(event.data);
    };
    socket.onerror = () => {
      // A close event always follows; retrying is handled there.
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.stopPing();
      this.scheduleRetry();
    };
  }

  private dispatch(data: unknown): void {
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
      if (!isLiveMessage(item) || item.type === 'pong') continue;
      for (const listener of this.messageListeners) listener(item);
    }
  }

  private scheduleRetry(): void {
    if (!this.running) return;
    const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
    this.setState(offline || this.attempt >= this.options.offlineAfter ? 'offline' : 'reconnecting');
    const delay = backoffDelay(
      this.attempt,
      this.options.baseDelayMs,
      this.options.maxDelayMs,
      this.options.random,
    );
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
          if (this.socket === socket) {
            this.socket = null;
            this.detach(socket);
            socket.close(4001, 'ping timeout');
            this.stopPing();
            this.scheduleRetry();
          }
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
