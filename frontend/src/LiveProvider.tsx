import { useQueryClient } from '@tanstack/react-query';
import { type ReactNode, useEffect, useState } from 'react';

import type { LiveClient } from './live';
import { LiveContext, type LiveContextValue } from './LiveContext';
import { createLiveSync } from './liveSync';
import { SagaStore } from './sagaStore';

interface Props {
  client: LiveClient;
  children: ReactNode;
}

/** Runs the websocket client for the page and feeds its messages into the query cache. */
export function LiveProvider({ client, children }: Props) {
  const queryClient = useQueryClient();
  const [value] = useState<LiveContextValue>(() => ({ client, sagas: new SagaStore() }));

  useEffect(() => {
    const sync = createLiveSync(queryClient, value.sagas);
    const unsubscribe = client.onMessage(sync.handle);
    client.start();
    return () => {
      unsubscribe();
      client.stop();
      sync.dispose();
    };
  }, [client, queryClient, value.sagas]);

  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}
