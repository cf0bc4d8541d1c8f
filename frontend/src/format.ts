const yenFormat = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'JPY',
  maximumFractionDigits: 0,
});
const numberFormat = new Intl.NumberFormat('en-US');
// In the browser's time zone, named: the daily sales are by UTC day, and an order placed at
// 07:30 in Tokyo is counted the day before there.
const dateTimeFormat = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});
const timeFormat = new Intl.DateTimeFormat('en-GB', {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** ¥120,000 */
export function yen(amount: number | null | undefined): string {
  return amount === null || amount === undefined ? '—' : yenFormat.format(amount);
}

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : numberFormat.format(value);
}

export function percent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(1)}%`;
}

function parse(iso: string | null | undefined): Date | null {
  if (!iso) return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function dateTime(iso: string | null | undefined): string {
  const date = parse(iso);
  return date ? dateTimeFormat.format(date) : '—';
}

export function time(iso: string | null | undefined): string {
  const date = parse(iso);
  return date ? timeFormat.format(date) : '—';
}

const dayFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** A calendar day the server gives as `2026-12-06` (a UTC day): `6 Dec`. */
export function day(isoDate: string): string {
  const date = parse(`${isoDate}T00:00:00Z`);
  return date ? dayFormat.format(date) : isoDate;
}

/** 26.4 ms, 1.25 s */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** The first block of a UUID, enough to tell orders apart on screen. */
export function shortId(id: string): string {
  return id.split('-')[0] ?? id;
}
