import type { CustomerStat } from '../api';

export type CustomerColumn = keyof Pick<
  CustomerStat,
  'customer_name' | 'total_orders' | 'confirmed_orders' | 'cancelled_orders' | 'total_revenue' | 'avg_order_value'
>;

export type SortDirection = 'ascending' | 'descending';

export interface CustomerSort {
  column: CustomerColumn;
  direction: SortDirection;
}

export const BY_REVENUE: CustomerSort = { column: 'total_revenue', direction: 'descending' };

/** The marketing service's `ordering` for a sort: the column, `-` first for descending. */
export function orderingOf(sort: CustomerSort): string {
  return `${sort.direction === 'descending' ? '-' : ''}${sort.column}`;
}

/** Clicking the sorted column flips it; a new column starts with its natural direction. */
export function nextSort(current: CustomerSort, column: CustomerColumn): CustomerSort {
  if (current.column === column) {
    return { column, direction: current.direction === 'ascending' ? 'descending' : 'ascending' };
  }
  return { column, direction: column === 'customer_name' ? 'ascending' : 'descending' };
}
