import { type ReactNode, useId } from 'react';

interface Props {
  title: string;
  /** A sentence a screen reader gets instead of the picture. */
  description: string;
  children: ReactNode;
}

/** The page's text colour (styles.css `--text`), 15.8:1 on the cards' white. */
const LEGEND_TEXT = '#1b2330';

/** A legend's label, for recharts' `<Legend formatter>`: in the text colour, not its series'
 * (recharts' default), since the paler series read 2.2:1 on white and text needs 4.5:1. The
 * series' colour stays on its swatch beside it. */
export function legendLabel(value: string) {
  return <span style={{ color: LEGEND_TEXT }}>{value}</span>;
}

/** Whether charts may animate: not for people who asked their system for less motion. */
export function chartsAnimate(): boolean {
  return !window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;
}

export function ChartFigure({ title, description, children }: Props) {
  const caption = useId();
  return (
    // named by its caption in words: Chromium leaves a figure unnamed by its figcaption
    <figure className="card card--padded chart" aria-labelledby={caption}>
      <figcaption id={caption} className="chart__title">
        {title}
      </figcaption>
      <p className="visually-hidden">{description}</p>
      <div className="chart__canvas" aria-hidden="true">
        {children}
      </div>
    </figure>
  );
}
