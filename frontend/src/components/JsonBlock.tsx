interface Props {
  label: string;
  value: unknown;
}

export function JsonBlock({ label, value }: Props) {
  return (
    <figure className="json">
      <figcaption className="json__label">{label}</figcaption>
      {/* focusable so a keyboard can scroll it; a region, since a <pre> has no role and
          its aria-label would go unread */}
      <pre tabIndex={0} role="region" aria-label={label}>
        <code>{JSON.stringify(value, null, 2)}</code>
      </pre>
    </figure>
  );
}
