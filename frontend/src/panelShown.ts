import { createContext, useContext } from 'react';

/** Whether the tab panel a component is in is the one shown (panels are kept, hidden, once
 * visited): a hidden panel need not poll. Outside any tabs, a component is shown. */
export const PanelShown = createContext(true);

export function usePanelShown(): boolean {
  return useContext(PanelShown);
}
