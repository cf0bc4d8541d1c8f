import { FAULT_MODES, type FaultMode, type Faults, SAGA_STEPS, type SagaStepName } from '../api';

interface Props {
  faults: Faults;
  onChange: (faults: Faults) => void;
  /** The server's refusal (400 `faults_disabled`, or errors for `faults`), shown in place. */
  refusal?: string | null;
}

const MODE_LABELS: Record<FaultMode | 'none', string> = {
  none: 'none',
  fail: 'fail (refused)',
  timeout: 'timeout',
  crash_after: 'crash_after',
};

export function FaultFieldset({ faults, onChange, refusal }: Props) {
  const set = (step: SagaStepName, mode: string) => {
    const next: Faults = { ...faults };
    if (mode === 'none') delete next[step];
    else next[step] = mode as FaultMode;
    onChange(next);
  };

  return (
    <fieldset className="faults" aria-describedby={refusal ? 'faults-note faults-refusal' : 'faults-note'}>
      <legend>Fault injection</legend>
      <p id="faults-note" className="hint">
        Make a saga step fail to watch the compensation run. Only works when the saga service
        runs with <code>SAGA_FAULTS=1</code>; otherwise the BFF refuses the order.
      </p>
      <div className="faults__grid">
        {SAGA_STEPS.map((step) => (
          <div className="field" key={step}>
            <label htmlFor={`fault-${step}`}>{step}</label>
            <select
              id={`fault-${step}`}
              value={faults[step] ?? 'none'}
              // a chosen fault is what was refused: the form focuses the first one
              aria-invalid={!!refusal && !!faults[step]}
              aria-describedby={refusal && faults[step] ? 'faults-refusal' : undefined}
              onChange={(event) => set(step, event.target.value)}
            >
              {(['none', ...FAULT_MODES] as const).map((mode) => (
                <option key={mode} value={mode}>
                  {MODE_LABELS[mode]}
                </option>
              ))}
            </select>
          </div>
        ))}
      </div>
      {refusal ? (
        <p id="faults-refusal" className="field__error" data-testid="faults-refusal">
          {refusal}
        </p>
      ) : null}
    </fieldset>
  );
}
