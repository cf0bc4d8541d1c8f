interface Props {
  status: string;
  testId?: string;
}

const TONES: Record<string, string> = {
  PENDING: 'pending',
  STARTED: 'pending',
  RUNNING: 'pending',
  COMPENSATING: 'warning',
  CONFIRMED: 'success',
  COMPLETED: 'success',
  CANCELLED: 'danger',
  COMPENSATED: 'warning',
  FAILED: 'danger',
};

/** A status word in a coloured pill; the colour is decoration, the word carries the meaning. */
export function StatusBadge({ status, testId }: Props) {
  const tone = TONES[status] ?? 'neutral';
  return (
    <span className={`badge badge--${tone}`} data-testid={testId}>
      {status}
    </span>
  );
}
