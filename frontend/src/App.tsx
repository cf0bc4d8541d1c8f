import { Suspense, lazy, useEffect, useState } from 'react';

import { ConnectionBadge } from './components/ConnectionBadge';
import { type TabDefinition, Tabs } from './components/Tabs';
import { EventsPanel } from './events/EventsPanel';
import { OrdersPanel } from './orders/OrdersPanel';
import { ProductsPanel } from './products/ProductsPanel';
import { SagaPanel } from './saga/SagaPanel';

// Charts are the heaviest code on the page; load them when the tab is first opened.
const MarketingPanel = lazy(() => import('./marketing/MarketingPanel'));

const TABS: readonly TabDefinition[] = [
  { id: 'products', label: 'Products', render: () => <ProductsPanel /> },
  { id: 'orders', label: 'Orders', render: () => <OrdersPanel /> },
  { id: 'saga', label: 'Saga', render: () => <SagaPanel /> },
  {
    id: 'marketing',
    label: 'Marketing',
    render: () => (
      <Suspense fallback={<p className="muted">Loading charts…</p>}>
        <MarketingPanel />
      </Suspense>
    ),
  },
  { id: 'events', label: 'Events', render: () => <EventsPanel /> },
];

function tabFromHash(): string {
  const id = window.location.hash.replace(/^#/, '');
  return TABS.some((tab) => tab.id === id) ? id : TABS[0].id;
}

export function App() {
  const [tab, setTab] = useState(tabFromHash);

  useEffect(() => {
    const onHashChange = () => setTab(tabFromHash());
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
  }, []);

  const select = (id: string) => {
    setTab(id);
    window.history.replaceState(null, '', `#${id}`);
  };

  return (
    <div className="app">
      <header className="header">
        <div className="header__text">
          <h1 className="header__title">EC microservices</h1>
          <p className="header__subtitle">Saga · CQRS + Event Sourcing · Backend for Frontend</p>
        </div>
        <ConnectionBadge />
      </header>
      <main className="main">
        <Tabs label="Sections" tabs={TABS} selected={tab} onSelect={select} />
      </main>
      <footer className="footer">
        Every request goes through the BFF (<code>/api</code>, <code>/ws</code>). API docs:{' '}
        <a href="/api/docs/">/api/docs/</a>
      </footer>
    </div>
  );
}
