import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactElement } from 'react';

import { LiveClient, type LiveClientOptions } from '../live';
import { LiveProvider } from '../LiveProvider';
import { fakeSockets } from './fakeWebSocket';

/** Render inside the app's providers with a fake websocket; returns the sockets to drive.
 * Queries go stale at once unless ``staleTime`` says otherwise (the app's is 5 s). */
export function renderWithProviders(
  ui: ReactElement,
  liveOptions: Partial<LiveClientOptions> = {},
  { staleTime = 0 }: { staleTime?: number } = {},
) {
  const queryClient = new QueryClient({
    defaultOptions: { queries: { retry: false, staleTime }, mutations: { retry: false } },
  });
  const fake = fakeSockets();
  const live = new LiveClient({
    url: 'ws://localhost:3000/ws/orders/',
    createSocket: fake.factory,
    baseDelayMs: 1,
    maxDelayMs: 2,
    random: () => 0,
    ...liveOptions,
  });
  const user = userEvent.setup();
  const result = render(
    <QueryClientProvider client={queryClient}>
      <LiveProvider client={live}>{ui}</LiveProvider>
    </QueryClientProvider>,
  );
  return { ...result, user, queryClient, live, ...fake };
}
