import { useId } from 'react';

interface Props {
  label: string;
  value: unknown;
}

export function JsonBlock({ label, value }: Props) {
  const caption = useId();
  return (
    // named by its caption in words: Chromium leaves a figure unnamed by its figcaption
    <figure className="json" aria-labelledby={caption}>
      <figcaption id={caption} className="json__label">
        {label}
      </figcaption>
      {/* focusable so a keyboard can scroll it; a region, since a <pre> has no role and
          its aria-label would go unread */}
      <pre tabIndex={0} role="region" aria-label={label}>
        <code>{JSON.stringify(value, null, 2)}</code>
      </pre>
    </figure>
  );
}
