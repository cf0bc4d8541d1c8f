import { describe, expect, it } from 'vitest';

import { day } from './format';

describe('day', () => {
  it('writes a UTC calendar day as the other dates are written, whatever the browser zone', () => {
    expect(day('2026-12-06')).toBe('6 Dec');
    expect(day('2026-01-31')).toBe('31 Jan');
    expect(day('not a date')).toBe('not a date');
  });
});
