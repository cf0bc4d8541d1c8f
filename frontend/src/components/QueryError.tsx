import { errorMessage } from '../api';
import { Notice } from './Notice';

interface Props {
  what: string;
  error: unknown;
  onRetry?: () => void;
}

export function QueryError({ what, error, onRetry }: Props) {
  return (
    <Notice tone="danger" title={`Could not load ${what}`}>
      <p>{errorMessage(error)}</p>
      {onRetry ? (
        <button type="button" className="button button--small" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </Notice>
  );
}
