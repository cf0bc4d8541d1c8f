import type { ReactNode } from 'react';

type Tone = 'success' | 'danger' | 'info' | 'warning';

interface Props {
  tone: Tone;
  title?: string;
  children?: ReactNode;
}

/** A banner; errors are announced assertively, everything else politely. */
export function Notice({ tone, title, children }: Props) {
  return (
    <div className={`notice notice--${tone}`} role={tone === 'danger' ? 'alert' : 'status'}>
      {title ? <p className="notice__title">{title}</p> : null}
      {children}
    </div>
  );
}
