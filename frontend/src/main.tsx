import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { App } from './App';
import { LiveClient, liveUrl } from './live';
import { LiveProvider } from './LiveProvider';
import { createQueryClient } from './queryClient';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('no #root element');

const queryClient = createQueryClient();
const live = new LiveClient({ url: liveUrl() });

createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <LiveProvider client={live}>
        <App />
      </LiveProvider>
    </QueryClientProvider>
  </StrictMode>,
);
