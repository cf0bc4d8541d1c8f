import { useState } from 'react';

import { Pager } from '../components/Pager';
import { QueryError } from '../components/QueryError';
import { CUSTOMERS_PAGE_SIZE, useMarketingCustomers } from '../queries';
import { CustomerTable } from './CustomerTable';
import { BY_REVENUE, type CustomerSort, orderingOf } from './sortCustomers';

/** Every customer, a page at a time, in the order the header buttons pick. */
export function CustomersSection() {
  const [sort, setSort] = useState<CustomerSort>(BY_REVENUE);
  const [offset, setOffset] = useState(0);
  const customers = useMarketingCustomers(orderingOf(sort), offset);
  const page = customers.data;

  return (
    <section aria-labelledby="customers-heading">
      <h2 id="customers-heading" className="section-title">
        Customers
      </h2>
      {customers.isError ? (
        <QueryError what="customers" error={customers.error} onRetry={() => void customers.refetch()} />
      ) : null}
      {page ? (
        <>
          <CustomerTable
            customers={page.items}
            sort={sort}
            onSort={(next) => {
              setSort(next);
              setOffset(0); // a new order starts at its first page
            }}
          />
          {page.total !== null && page.total > CUSTOMERS_PAGE_SIZE ? (
            <Pager
              label="Customer pages"
              offset={offset}
              limit={CUSTOMERS_PAGE_SIZE}
              total={page.total}
              shown={page.items.length}
              onChange={setOffset}
            />
          ) : null}
        </>
      ) : null}
    </section>
  );
}
