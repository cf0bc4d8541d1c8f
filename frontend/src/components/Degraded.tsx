interface Props {
  services: readonly (string | null)[] | undefined;
}

/** The BFF still answers when a service behind it is down, and names the missing ones. */
export function Degraded({ services }: Props) {
  const names = (services ?? []).filter((s): s is string => !!s);
  if (names.length === 0) return null;
  return (
    <p className="degraded" role="status">
      Partial data: {names.join(', ')} did not answer.
    </p>
  );
}
