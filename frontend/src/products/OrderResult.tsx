import type { PlaceOrderAnswer } from '../api';
import { Notice } from '../components/Notice';
import { StatusBadge } from '../components/StatusBadge';
import { StepList } from '../components/StepList';
import { shortId, yen } from '../format';

interface Props {
  result: PlaceOrderAnswer;
}

function outcome(result: PlaceOrderAnswer) {
  if (result.success) return { tone: 'success', title: 'Order confirmed' } as const;
  if (result.httpStatus === 202 || result.status === 'RUNNING' || result.status === 'COMPENSATING')
    return { tone: 'info', title: 'Order still being processed' } as const;
  return { tone: 'danger', title: 'Order cancelled' } as const;
}

/** The saga's answer: a banner with its message, then every step it ran. */
export function OrderResult({ result }: Props) {
  const { tone, title } = outcome(result);
  return (
    <section className="result" aria-labelledby="result-heading">
      <h3 id="result-heading" className="visually-hidden">
        Result
      </h3>
      <Notice tone={tone} title={title}>
        <p>{result.message ?? (result.success ? 'The saga completed.' : result.reason)}</p>
        <p className="result__meta">
          Order <code title={result.order_id}>{shortId(result.order_id)}</code>
          {result.total_price !== undefined ? <> · {yen(result.total_price)}</> : null}
          {result.status ? (
            <>
              {' '}
              · saga <StatusBadge status={result.status} />
            </>
          ) : null}
        </p>
      </Notice>
      <h4 className="subheading">Saga log</h4>
      <StepList steps={result.saga_log} />
    </section>
  );
}
