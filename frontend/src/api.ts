/**
 * The BFF's HTTP API, typed. The BFF is the UI's only backend (see README "The BFF").
 * Every shape the UI reads has an interface here; responses may carry more fields.
 */

// ---------------------------------------------------------------- shapes

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED';
export const ORDER_STATUSES: readonly OrderStatus[] = ['PENDING', 'CONFIRMED', 'CANCELLED'];

export interface Product {
  id: string;
  product_name: string;
  /** Yen, a whole number. */
  price: number;
  quantity: number;
  reserved: number;
  available: number;
  created_at?: string;
  updated_at?: string;
}

export interface Order {
  id: string;
  customer_name: string;
  product_id: string;
  product_name: string;
  quantity: number;
  total_price: number;
  status: OrderStatus;
  cancel_reason?: string;
  version?: number;
  created_at?: string;
  updated_at?: string;
}

export const SAGA_STEPS = ['CreateOrder', 'ReserveInventory', 'ConfirmOrder'] as const;
export type SagaStepName = (typeof SAGA_STEPS)[number];

export const FAULT_MODES = ['fail', 'timeout', 'crash_after'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];
export type Faults = Partial<Record<SagaStepName, FaultMode>>;

/** A step's state: STARTED while running, then COMPLETED or FAILED. */
export type StepStatus = 'STARTED' | 'COMPLETED' | 'FAILED' | (string & {});

export interface SagaStep {
  /** 1-based, in the order the saga ran them (compensations continue the count). */
  step: number;
  /** `CreateOrder`, …; a compensation reads `CancelOrder (COMPENSATING)`. */
  action: string;
  status: StepStatus;
  error: string | null;
  message?: string;
  compensating?: boolean;
  attempts?: number | null;
  timestamp?: string;
  finished_at?: string | null;
  duration_ms?: number | null;
}

export type SagaStatus =
  | 'RUNNING'
  | 'COMPENSATING'
  | 'COMPLETED'
  | 'COMPENSATED'
  | 'FAILED'
  | (string & {});

export interface Saga {
  order_id: string;
  saga_id: string;
  success: boolean;
  status: SagaStatus;
  reason: string | null;
  customer_name?: string;
  product_id?: string;
  product_name?: string;
  quantity?: number;
  total_price?: number;
  resumed?: boolean;
  created_at?: string;
  finished_at?: string | null;
  saga_log: SagaStep[];
}

export interface EventMetadata {
  service?: string;
  correlation_id?: string;
  causation_id?: string;
  command_id?: string;
  command_type?: string;
  order_id?: string;
  [key: string]: unknown;
}

export type EventService = 'order-service' | 'inventory-service' | 'saga-service';
export const EVENT_SERVICES: readonly EventService[] = [
  'order-service',
  'inventory-service',
  'saga-service',
];

export interface StoredEvent {
  position: number;
  event_id?: string;
  aggregate_id: string;
  aggregate_type: string;
  event_type: string;
  event_data: Record<string, unknown>;
  version: number;
  schema_version?: number;
  metadata: EventMetadata;
  created_at: string;
  /** Only on the BFF's merged timeline. */
  service?: EventService;
}

export interface OrderDetail extends Order {
  events: StoredEvent[];
  saga: Saga | null;
  saga_log: SagaStep[];
  degraded?: string[];
}

export interface PlaceOrderInput {
  customer_name: string;
  product_id: string;
  quantity: number;
  faults?: Faults;
}

export interface PlaceOrderResult {
  order_id: string;
  success: boolean;
  saga_log: SagaStep[];
  saga_id?: string;
  status?: SagaStatus;
  reason?: string | null;
  message?: string;
  customer_name?: string;
  product_id?: string;
  product_name?: string;
  quantity?: number;
  total_price?: number;
  /** Taken over by the resumer after the process driving it stopped (a crash, a restart). */
  resumed?: boolean;
  resumptions?: number;
}

export interface MarketingSummary {
  total_revenue: number;
  total_customers: number;
  total_product_types: number;
  total_orders?: number;
  confirmed_orders?: number;
  cancelled_orders?: number;
  conversion_rate?: number;
  avg_order_value?: number;
}

export interface CustomerStat {
  customer_name: string;
  total_orders: number;
  confirmed_orders: number;
  cancelled_orders: number;
  total_revenue: number;
  avg_order_value: number;
  total_units?: number;
  first_order_at?: string;
  last_order_at?: string;
  favourite_product_name?: string;
}

export interface ProductStat {
  product_id: string;
  product_name: string;
  total_order_count: number;
  total_units_ordered: number;
  total_revenue: number;
  unique_customers: number;
  confirmed_orders?: number;
  cancelled_orders?: number;
}

export interface DailySale {
  sale_date: string;
  total_orders: number;
  confirmed_orders: number;
  cancelled_orders: number;
  total_revenue: number;
  avg_order_value: number;
}

export interface MarketingOverview {
  summary: MarketingSummary;
  top_customers: CustomerStat[];
  top_products: ProductStat[];
  recent_daily_sales: DailySale[];
}

/** A list endpoint's page: the array plus the `X-Total-Count` header. */
export interface Page<T> {
  items: T[];
  total: number | null;
  /** Services that did not answer (`X-Degraded`). */
  degraded: string[];
}

export interface EventFilters {
  service?: EventService | '';
  type?: string;
  aggregate?: string;
  limit?: number;
  offset?: number;
}

// ------------------------------------------------------- websocket messages

interface PushBase {
  order_id: string;
  event_type: string;
  /** The source log's gap-free position. */
  position: number;
  at: string;
}

export interface SnapshotMessage {
  type: 'snapshot';
  /** `/ws/orders/`: the most recent orders. */
  orders?: Order[];
  /** `/ws/orders/<id>/`: that order with events and saga log. */
  order?: OrderDetail | null;
  degraded?: (string | null)[];
}

export interface OrderStatusMessage extends PushBase {
  type: 'order.status';
  status: OrderStatus;
  /** Present on `OrderCreated`: the new order. */
  order?: Order;
  reason?: string;
}

export interface SagaStepMessage extends PushBase {
  type: 'saga.step';
  saga_id: string;
  step: number;
  action: string;
  compensating: boolean;
  status: StepStatus;
  message: string;
  error: string | null;
  duration_ms: number | null;
  attempts: number | null;
}

/** What a saga places, as its start's push names it. */
export interface SagaAbout {
  customer_name: string;
  product_name: string;
  quantity: number;
}

export interface SagaStatusMessage extends PushBase {
  type: 'saga.status';
  saga_id: string;
  /** null for `SagaResumed`, which only marks the saga as resumed. */
  status: SagaStatus | null;
  resumed: boolean;
  reason: string | null;
  /** On `SagaStarted` only. */
  about?: SagaAbout;
}

export interface PongMessage {
  type: 'pong';
}

export type LiveMessage =
  | SnapshotMessage
  | OrderStatusMessage
  | SagaStepMessage
  | SagaStatusMessage
  | PongMessage;

// ---------------------------------------------------------------- errors

export interface ApiErrorBody {
  detail?: string;
  code?: string;
  /** Validation errors per field. */
  errors?: Record<string, string[]>;
  [key: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: ApiErrorBody;

  constructor(status: number, body: ApiErrorBody) {
    super(body.detail ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }

  get code(): string | undefined {
    return this.body.code;
  }

  get fieldErrors(): Record<string, string[]> {
    return this.body.errors ?? {};
  }
}

/** The BFF waits up to 35 s for the saga and may send its call again: a minute is past any
 * answer it would still give. */
export const PLACE_ORDER_TIMEOUT_MS = 60_000;

/** A request given up by its `AbortSignal.timeout`. */
export function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'TimeoutError';
}

/** A human sentence for any error a query or mutation can raise. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 503) return `${error.message} (a service is unavailable; retry shortly)`;
    return error.message;
  }
  if (error instanceof TypeError) return 'The BFF cannot be reached. Is it running?';
  if (isTimeout(error)) return `The BFF did not answer within ${PLACE_ORDER_TIMEOUT_MS / 1000} s.`;
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

// ---------------------------------------------------------------- client

type Query = Record<string, string | number | undefined | null>;

function url(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The body as JSON; null for none, and for one that is not JSON: an error page of a proxy
 * in front of the BFF (a 502 in HTML) says nothing to show but its status. */
async function parseBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** What an error answer without the BFF's JSON says: its status, in words. */
function statusOnly(response: Response): ApiErrorBody {
  return { detail: `The server answered ${response.status} ${response.statusText}`.trim() };
}

interface Fetched<T> {
  body: T;
  status: number;
  headers: Headers;
}

async function request<T>(path: string, init: RequestInit = {}): Promise<Fetched<T>> {
  const response = await fetch(path, {
    ...init,
    headers: { Accept: 'application/json', ...init.headers },
  });
  const body = await parseBody(response);
  if (!response.ok) {
    const errorBody: ApiErrorBody =
      body && typeof body === 'object' ? (body as ApiErrorBody) : statusOnly(response);
    throw new ApiError(response.status, errorBody);
  }
  return { body: body as T, status: response.status, headers: response.headers };
}

async function getJson<T>(path: string, query?: Query): Promise<T> {
  return (await request<T>(url(path, query))).body;
}

async function getPage<T>(path: string, query?: Query): Promise<Page<T>> {
  const { body, headers } = await request<T[]>(url(path, query));
  const total = headers.get('X-Total-Count');
  const degraded = headers.get('X-Degraded');
  return {
    items: Array.isArray(body) ? body : [],
    total: total === null ? null : Number(total),
    degraded: degraded ? degraded.split(',') : [],
  };
}

export const api = {
  products: () => getJson<Product[]>('/api/products', { limit: 500 }),

  orders: (query: { limit: number; offset: number }) => getPage<Order>('/api/orders', query),

  order: (id: string) => getJson<OrderDetail>(`/api/orders/${encodeURIComponent(id)}`),

  /** The newest sagas, each with its log: those whose order was never created too. */
  sagas: (query: { limit: number; offset: number }) => getPage<Saga>('/api/sagas', query),

  /** The saga of one order, with its log: there even if the order was never created. */
  saga: (orderId: string) => getJson<Saga>(`/api/sagas/${encodeURIComponent(orderId)}`),

  /** Runs the saga; `idempotencyKey` names the order, so a retry never places it twice. */
  placeOrder: async (input: PlaceOrderInput, idempotencyKey: string) => {
    const { body, status } = await request<PlaceOrderResult>('/api/orders', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
      body: JSON.stringify(input),
      // A BFF that hangs would leave the form "running the saga" for good; past this the
      // outcome is unknown, and the same key asks for it again.
      signal: AbortSignal.timeout(PLACE_ORDER_TIMEOUT_MS),
    });
    return { ...body, httpStatus: status };
  },

  events: (filters: EventFilters) =>
    getPage<StoredEvent>('/api/events', {
      service: filters.service,
      type: filters.type,
      aggregate: filters.aggregate,
      limit: filters.limit ?? 50,
      offset: filters.offset ?? 0,
    }),

  marketingOverview: () => getJson<MarketingOverview>('/api/marketing/overview'),
  marketingProducts: () => getJson<ProductStat[]>('/api/marketing/products', { limit: 500 }),
  marketingDaily: (days = 30) => getJson<DailySale[]>('/api/marketing/daily', { days, limit: 500 }),
  /** A page of customers sorted where they are: `ordering` is a column, `-` first for descending. */
  marketingCustomers: (query: { ordering: string; limit: number; offset: number }) =>
    getPage<CustomerStat>('/api/marketing/customers', query),
};

export type PlaceOrderAnswer = PlaceOrderResult & { httpStatus: number };

/** A fresh Idempotency-Key; `crypto.randomUUID` exists only in secure contexts. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
