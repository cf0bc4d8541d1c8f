import { vi } from 'vitest';

export interface Call {
  method: string;
  url: URL;
  headers: Headers;
  body: unknown;
  signal: AbortSignal | null;
}

export interface Reply {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
  statusText?: string;
  /** Sent as is instead of ``body`` as JSON: what a proxy in front of the BFF may answer. */
  text?: string;
}

type Handler = (call: Call) => Reply | undefined | Promise<Reply | undefined>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Reply {
  return { status, body, headers };
}

/** An HTML page, as a reverse proxy answers when the BFF behind it is down. */
export function html(text: string, status: number, statusText: string): Reply {
  return { status, statusText, body: null, text, headers: { 'Content-Type': 'text/html' } };
}

/**
 * Replace `fetch` with routes keyed `"GET /api/products"` (path only; the query string is
 * in `call.url`). A route is a reply or a function of the call (a promise of one holds the
 * answer back). Unknown routes answer 404.
 */
export function mockFetch(routes: Record<string, Reply | Handler>) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://localhost:3000');
    const method = (init.method ?? 'GET').toUpperCase();
    const call: Call = {
      method,
      url,
      headers: new Headers(init.headers),
      body: typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
      signal: init.signal ?? null,
    };
    calls.push(call);
    const route = routes[`${method} ${url.pathname}`];
    const reply = typeof route === 'function' ? await route(call) : route;
    const { status = 200, statusText, body, text, headers = {} } = reply ?? {
      status: 404,
      body: { detail: 'not found' },
    };
    return new Response(text ?? JSON.stringify(body), {
      status,
      statusText,
      headers: { 'Content-Type': 'application/json', ...headers },
    });
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    calls,
    callsTo: (method: string, path: string) =>
      calls.filter((c) => c.method === method && c.url.pathname === path),
  };
}
