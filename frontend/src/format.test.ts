import { describe, expect, it } from 'vitest';

import { dateTime, day } from './format';

describe('day', () => {
  it('writes a UTC calendar day as the other dates are written, whatever the browser zone', () => {
    expect(day('2026-12-06')).toBe('6 Dec');
    expect(day('2026-01-31')).toBe('31 Jan');
    expect(day('not a date')).toBe('not a date');
  });
});

describe('dateTime', () => {
  it('names its time zone, since the daily sales are by UTC day', () => {
    // found in the UI: "7 Dec 07:32" in Tokyo was counted under 6 Dec, with nothing to say why
    const zone = new Intl.DateTimeFormat('en-GB', { timeZoneName: 'short' })
      .formatToParts(new Date('2026-12-06T22:32:10Z'))
      .find((part) => part.type === 'timeZoneName')?.value;
    expect(zone).toBeTruthy();
    expect(dateTime('2026-12-06T22:32:10Z')).toContain(zone);
  });
});
