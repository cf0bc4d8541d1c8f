interface Props {
  label: string;
  value: unknown;
}

export function JsonBlock({ label, value }: Props) {
  return (
    <figure className="json">
      <figcaption className="json__label">{label}</figcaption>
      <pre tabIndex={0} aria-label={label}>
        <code>{JSON.stringify(value, null, 2)}</code>
      </pre>
    </figure>
  );
}
