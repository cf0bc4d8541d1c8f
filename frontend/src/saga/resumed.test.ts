import { describe, expect, it } from 'vitest';

import { resumedNote } from './resumed';

const STARTED = { step: 3, action: 'CancelOrder (COMPENSATING)', status: 'STARTED', error: null, compensating: true };

describe('resumedNote', () => {
  it('says the resumer finished a saga only once it has ended', () => {
    expect(resumedNote('COMPENSATED', [])).toMatch(/took it over from its persisted log and finished it\.$/);
    expect(resumedNote('COMPENSATING', [])).toMatch(/took it over from its persisted log and is running it\.$/);
  });

  it('says a step waits for the resumer when a pass gave up on it', () => {
    const waiting = { ...STARTED, message: 'waiting for the resumer: timed out' };
    expect(resumedNote('COMPENSATING', [waiting])).toMatch(/has not finished it yet: a step is waiting/);
    // a step under way is not one left to the resumer
    expect(resumedNote('COMPENSATING', [{ ...STARTED, message: 'cancelling' }])).toMatch(/is running it\.$/);
  });
});
