import { createContext, useContext, useSyncExternalStore } from 'react';

import type { ConnectionState, LiveClient } from './live';
import type { SagaState, SagaStore } from './sagaStore';

export interface LiveContextValue {
  client: LiveClient;
  sagas: SagaStore;
}

export const LiveContext = createContext<LiveContextValue | null>(null);

function useLive(): LiveContextValue {
  const value = useContext(LiveContext);
  if (!value) throw new Error('useLive must be used inside <LiveProvider>');
  return value;
}

export function useConnectionState(): ConnectionState {
  const { client } = useLive();
  return useSyncExternalStore(client.subscribeState, client.getState, client.getState);
}

export function useLiveSagas(): SagaState {
  const { sagas } = useLive();
  return useSyncExternalStore(sagas.subscribe, sagas.getSnapshot, sagas.getSnapshot);
}
