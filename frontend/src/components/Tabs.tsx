import { type KeyboardEvent, type ReactNode, useRef, useState } from 'react';

import { PanelShown } from '../panelShown';
import { PanelBoundary } from './PanelBoundary';

export interface TabDefinition {
  id: string;
  label: string;
  render: () => ReactNode;
}

interface Props {
  label: string;
  tabs: readonly TabDefinition[];
  selected: string;
  onSelect: (id: string) => void;
}

/**
 * WAI-ARIA tabs with automatic activation: Left/Right arrows (wrapping), Home and End move
 * between tabs; only the selected tab is in the tab order. A panel is mounted on first
 * visit and then kept (hidden), so form state and scroll survive switching tabs.
 */
export function Tabs({ label, tabs, selected, onSelect }: Props) {
  const refs = useRef(new Map<string, HTMLButtonElement>());
  const [visited, setVisited] = useState<ReadonlySet<string>>(() => new Set([selected]));
  if (!visited.has(selected)) setVisited(new Set([...visited, selected]));

  const select = (index: number) => {
    const tab = tabs[(index + tabs.length) % tabs.length];
    onSelect(tab.id);
    refs.current.get(tab.id)?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLButtonElement>, index: number) => {
    const moves: Record<string, number> = {
      ArrowRight: index + 1,
      ArrowLeft: index - 1,
      Home: 0,
      End: tabs.length - 1,
    };
    const target = moves[event.key];
    if (target === undefined) return;
    event.preventDefault();
    select(target);
  };

  return (
    <>
      <div role="tablist" aria-label={label} className="tablist">
        {tabs.map((tab, index) => {
          const active = tab.id === selected;
          return (
            <button
              key={tab.id}
              ref={(node) => {
                if (node) refs.current.set(tab.id, node);
                else refs.current.delete(tab.id);
              }}
              type="button"
              role="tab"
              id={`tab-${tab.id}`}
              aria-selected={active}
              aria-controls={`panel-${tab.id}`}
              tabIndex={active ? 0 : -1}
              className="tab"
              onClick={() => onSelect(tab.id)}
              onKeyDown={(event) => onKeyDown(event, index)}
            >
              {tab.label}
            </button>
          );
        })}
      </div>
      {tabs.map((tab) => (
        <div
          key={tab.id}
          role="tabpanel"
          id={`panel-${tab.id}`}
          aria-labelledby={`tab-${tab.id}`}
          hidden={tab.id !== selected}
          tabIndex={0}
          className="tabpanel"
        >
          <PanelShown.Provider value={tab.id === selected}>
            {visited.has(tab.id) ? <PanelBoundary>{tab.render()}</PanelBoundary> : null}
          </PanelShown.Provider>
        </div>
      ))}
    </>
  );
}
