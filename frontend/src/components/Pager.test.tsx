import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';

import { Pager } from './Pager';

function Paged({ onChange }: { onChange: (offset: number) => void }) {
  const [offset, setOffset] = useState(50);
  return (
    <Pager
      label="Pages"
      offset={offset}
      limit={50}
      total={150}
      shown={50}
      onChange={(next) => {
        onChange(next);
        setOffset(next);
      }}
    />
  );
}

describe('pager', () => {
  it('keeps the focus on the button that reached the first or the last page', async () => {
    // A disabled button cannot hold the focus: browsers drop it to <body>. jsdom keeps it
    // there, so the buttons are checked to stay focusable (aria-disabled, not disabled).
    const user = userEvent.setup();
    const onChange = vi.fn();
    render(<Paged onChange={onChange} />);
    const previous = screen.getByRole('button', { name: 'Previous' });
    const next = screen.getByRole('button', { name: 'Next' });

    await user.click(previous);
    expect(screen.getByRole('navigation', { name: 'Pages' })).toHaveTextContent('1–50 of 150');
    expect(previous).toHaveFocus();
    expect(previous).toBeEnabled();
    expect(previous).toHaveAttribute('aria-disabled', 'true');
    await user.keyboard('{Enter}');
    expect(onChange.mock.calls).toEqual([[0]]);

    await user.click(next);
    await user.click(next);
    expect(screen.getByRole('navigation', { name: 'Pages' })).toHaveTextContent('101–150 of 150');
    expect(next).toHaveFocus();
    expect(next).toBeEnabled();
    expect(next).toHaveAttribute('aria-disabled', 'true');
    await user.keyboard('{Enter}');
    expect(onChange.mock.calls).toEqual([[0], [50], [100]]);
  });
});
