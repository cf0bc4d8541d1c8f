import type { CustomerStat, Order, Product, SagaStep, StoredEvent } from '../api';

export const LAPTOP: Product = {
  id: 'a1111111-1111-1111-1111-111111111111',
  product_name: 'Laptop',
  price: 120000,
  quantity: 50,
  reserved: 2,
  available: 48,
};

export const MOUSE: Product = {
  id: 'b2222222-2222-2222-2222-222222222222',
  product_name: 'Wireless Mouse',
  price: 3500,
  quantity: 200,
  reserved: 0,
  available: 200,
};

export function order(id: string, overrides: Partial<Order> = {}): Order {
  return {
    id,
    customer_name: 'Yamada',
    product_id: LAPTOP.id,
    product_name: 'Laptop',
    quantity: 1,
    total_price: 120000,
    status: 'PENDING',
    created_at: '2026-11-25T10:00:00Z',
    updated_at: '2026-11-25T10:00:00Z',
    ...overrides,
  };
}

export const COMPENSATED_LOG: SagaStep[] = [
  { step: 1, action: 'CreateOrder', status: 'COMPLETED', error: null, duration_ms: 26.4, message: 'order created' },
  {
    step: 2,
    action: 'ReserveInventory',
    status: 'FAILED',
    error: 'insufficient stock: 48 available',
    duration_ms: 11.2,
  },
  {
    step: 3,
    action: 'CancelOrder (COMPENSATING)',
    status: 'COMPLETED',
    error: null,
    compensating: true,
    duration_ms: 18,
  },
];

export const EVENT: StoredEvent = {
  position: 279,
  event_id: '924dd0c1-549b-4177-8bbf-f074e5da6f99',
  aggregate_id: '69407247-8225-4684-ac7e-24badb0b97e9',
  aggregate_type: 'Order',
  event_type: 'OrderConfirmed',
  event_data: { note: 'confirmed by saga' },
  version: 2,
  metadata: {
    service: 'order-service',
    command_id: 'saga:9060dd85:ConfirmOrder',
    causation_id: 'saga:9060dd85:ConfirmOrder-cause',
    command_type: 'ConfirmOrder',
    correlation_id: 'a2bbee64-a350-4325-a02c-afbd02b6e536',
  },
  created_at: '2026-11-25T22:32:20.081808Z',
  service: 'order-service',
};

export const CUSTOMERS: CustomerStat[] = [
  { customer_name: 'Suzuki', total_orders: 5, confirmed_orders: 4, cancelled_orders: 1, total_revenue: 14000, avg_order_value: 3500 },
  { customer_name: 'Abe', total_orders: 1, confirmed_orders: 1, cancelled_orders: 0, total_revenue: 240000, avg_order_value: 240000 },
  { customer_name: 'Mori', total_orders: 3, confirmed_orders: 3, cancelled_orders: 0, total_revenue: 65000, avg_order_value: 21666.67 },
];
