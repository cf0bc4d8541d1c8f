interface Props {
  offset: number;
  limit: number;
  total: number | null;
  shown: number;
  onChange: (offset: number) => void;
  label: string;
  /** The furthest offset the endpoint serves. */
  maxOffset?: number;
}

export function Pager({ offset, limit, total, shown, onChange, label, maxOffset }: Props) {
  const last = total === null ? shown < limit : offset + limit >= total;
  const capped = maxOffset !== undefined && offset + limit > maxOffset;
  const from = shown === 0 ? 0 : offset + 1;
  const first = offset === 0;
  const end = last || capped;
  // aria-disabled, not disabled: the button pressed to reach the first or last page would
  // otherwise drop the keyboard focus to <body> (a disabled button cannot hold it)
  return (
    <nav className="pager" aria-label={label}>
      <button
        type="button"
        className="button button--secondary button--small"
        aria-disabled={first}
        onClick={() => {
          if (!first) onChange(Math.max(0, offset - limit));
        }}
      >
        Previous
      </button>
      <span className="pager__text">
        {from}–{offset + shown}
        {total !== null ? ` of ${total.toLocaleString('en-US')}` : ''}
      </span>
      <button
        type="button"
        className="button button--secondary button--small"
        aria-disabled={end}
        onClick={() => {
          if (!end) onChange(offset + limit);
        }}
      >
        Next
      </button>
    </nav>
  );
}
