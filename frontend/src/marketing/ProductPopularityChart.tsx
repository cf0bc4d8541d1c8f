import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

import type { ProductStat } from '../api';
import { ChartFigure, chartsAnimate, legendLabel } from './ChartFigure';

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

interface Props {
  products: readonly ProductStat[];
}

/** Units and orders per product, as horizontal bars so long names stay readable on phones. */
export function ProductPopularityChart({ products }: Props) {
  const data = [...products].sort((a, b) => b.total_units_ordered - a.total_units_ordered);
  const animate = chartsAnimate();
  const description = data.length
    ? data
        // units count confirmed orders only, orders every order placed: said apart, not as
        // "units in orders", which read as if every order had sold
        .map((p) => `${p.product_name}: ${plural(p.total_units_ordered, 'unit')} sold; ${plural(p.total_order_count, 'order')} placed`)
        .join('; ')
    : 'No orders yet.';
  return (
    <ChartFigure title="Product popularity" description={description}>
      {data.length === 0 ? (
        <p className="muted">No orders yet.</p>
      ) : (
        <ResponsiveContainer width="100%" height={Math.max(220, 70 + data.length * 44)}>
          <BarChart data={data} layout="vertical" margin={{ top: 4, right: 12, bottom: 4, left: 4 }}>
            <CartesianGrid strokeDasharray="3 3" horizontal={false} />
            <XAxis type="number" allowDecimals={false} tick={{ fontSize: 12 }} />
            <YAxis type="category" dataKey="product_name" width={104} tick={{ fontSize: 12 }} />
            <Tooltip />
            <Legend formatter={legendLabel} />
            <Bar dataKey="total_units_ordered" name="Units sold (confirmed)" fill="#2457c5" isAnimationActive={animate} />
            <Bar dataKey="total_order_count" name="Orders placed (all)" fill="#c26d17" isAnimationActive={animate} />
          </BarChart>
        </ResponsiveContainer>
      )}
    </ChartFigure>
  );
}
