import type { CustomerStat } from '../api';
import { count, yen } from '../format';
import { type CustomerColumn, type CustomerSort, nextSort } from './sortCustomers';

interface Props {
  /** One page, already in ``sort``'s order: the marketing service sorts, not the browser. */
  customers: readonly CustomerStat[];
  sort: CustomerSort;
  onSort: (sort: CustomerSort) => void;
}

const COLUMNS: { key: CustomerColumn; label: string; numeric: boolean }[] = [
  { key: 'customer_name', label: 'Customer', numeric: false },
  { key: 'total_orders', label: 'Orders', numeric: true },
  { key: 'confirmed_orders', label: 'Confirmed', numeric: true },
  { key: 'cancelled_orders', label: 'Cancelled', numeric: true },
  { key: 'total_revenue', label: 'Revenue', numeric: true },
  { key: 'avg_order_value', label: 'Average order', numeric: true },
];

/** Customers, sortable by any column: the header buttons toggle, `aria-sort` says how. */
export function CustomerTable({ customers: rows, sort, onSort }: Props) {

  const cell = (customer: CustomerStat, key: CustomerColumn) => {
    if (key === 'total_revenue' || key === 'avg_order_value') return yen(customer[key]);
    if (key === 'customer_name') return customer.customer_name;
    return count(customer[key]);
  };

  return (
    <div className="table-wrap">
      <table className="table" aria-labelledby="customers-heading">
        <thead>
          <tr>
            {COLUMNS.map((column) => {
              const active = sort.column === column.key;
              return (
                <th
                  key={column.key}
                  scope="col"
                  className={column.numeric ? 'num' : undefined}
                  aria-sort={active ? sort.direction : 'none'}
                >
                  <button
                    type="button"
                    className="sort-button"
                    onClick={() => onSort(nextSort(sort, column.key))}
                  >
                    {column.label}
                    <span className="sort-button__icon" aria-hidden="true">
                      {active ? (sort.direction === 'ascending' ? '▲' : '▼') : '↕'}
                    </span>
                  </button>
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((customer) => (
            <tr key={customer.customer_name}>
              {COLUMNS.map((column) =>
                column.key === 'customer_name' ? (
                  <th key={column.key} scope="row">
                    {cell(customer, column.key)}
                  </th>
                ) : (
                  <td key={column.key} className="num">
                    {cell(customer, column.key)}
                  </td>
                ),
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 ? <p className="muted">No customers yet.</p> : null}
    </div>
  );
}
