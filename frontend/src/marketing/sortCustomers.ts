import type { CustomerStat } from '../api';

export type CustomerColumn =
  | 'customer_name'
  | 'total_orders'
  | 'confirmed_orders'
  | 'cancelled_orders'
  | 'total_revenue'
  | 'avg_order_value';

export type SortDirection = 'ascending' | 'descending';

export interface CustomerSort {
  column: CustomerColumn;
  direction: SortDirection;
}

export function sortCustomers(rows: readonly CustomerStat[], sort: CustomerSort): CustomerStat[] {
  const sign = sort.direction === 'ascending' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = a[sort.column];
    const y = b[sort.column];
    const order =
      typeof x === 'string' && typeof y === 'string'
        ? x.localeCompare(y, 'en', { sensitivity: 'base', numeric: true })
        : Number(x) - Number(y);
    return order * sign || a.customer_name.localeCompare(b.customer_name);
  });
}

/** Clicking the sorted column flips it; a new column starts with its natural direction. */
export function nextSort(current: CustomerSort, column: CustomerColumn): CustomerSort {
  if (current.column === column) {
    return { column, direction: current.direction === 'ascending' ? 'descending' : 'ascending' };
  }
  return { column, direction: column === 'customer_name' ? 'ascending' : 'descending' };
}
