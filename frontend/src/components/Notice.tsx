import { type ReactNode, useId } from 'react';

type Tone = 'success' | 'danger' | 'info' | 'warning';

interface Props {
  tone: Tone;
  title?: string;
  children?: ReactNode;
  /** Shows a Dismiss button; the caller hides the notice, and places the focus. */
  onDismiss?: () => void;
}

/** A banner, named by its title; errors are announced assertively, everything else politely. */
export function Notice({ tone, title, children, onDismiss }: Props) {
  const titleId = useId();
  return (
    <div
      className={`notice notice--${tone}`}
      role={tone === 'danger' ? 'alert' : 'status'}
      aria-labelledby={title ? titleId : undefined}
    >
      {title ? (
        <p id={titleId} className="notice__title">
          {title}
        </p>
      ) : null}
      {children}
      {onDismiss ? (
        <button type="button" className="button button--secondary button--small notice__dismiss" onClick={onDismiss}>
          Dismiss
        </button>
      ) : null}
    </div>
  );
}
