import {
  Bar,
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';

import type { DailySale } from '../api';
import { day, yen } from '../format';
import { ChartFigure, chartsAnimate, legendLabel } from './ChartFigure';
import { dailySeries } from './dailySeries';

interface Props {
  days: readonly DailySale[];
}

const compactYen = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'JPY',
  notation: 'compact',
});

export function DailySalesChart({ days }: Props) {
  const data = dailySeries(days);
  const animate = chartsAnimate();
  const description = days.length
    ? [...days].sort((a, b) => a.sale_date.localeCompare(b.sale_date)).map((d) => `${day(d.sale_date)}: ${yen(d.total_revenue)} from ${d.total_orders} orders`).join('; ')
    : 'No sales yet.';
  return (
    <ChartFigure title="Daily sales (last 30 days, UTC)" description={description}>
      {data.length === 0 ? (
        <p className="muted">No sales yet.</p>
      ) : (
        <ResponsiveContainer width="100%" height={260}>
          <ComposedChart data={data} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="sale_date" tick={{ fontSize: 12 }} tickFormatter={day} />
            <YAxis
              yAxisId="revenue"
              width={64}
              tick={{ fontSize: 12 }}
              tickFormatter={(v: number) => compactYen.format(v)}
            />
            <YAxis yAxisId="orders" orientation="right" allowDecimals={false} width={40} tick={{ fontSize: 12 }} />
            <Tooltip
              labelFormatter={(label) => `${day(String(label))} (UTC)`}
              formatter={(value, name) => (name === 'Revenue' ? yen(Number(value)) : value)}
            />
            <Legend formatter={legendLabel} />
            <Bar yAxisId="revenue" dataKey="total_revenue" name="Revenue" fill="#2457c5" isAnimationActive={animate} />
            <Line
              yAxisId="orders"
              dataKey="total_orders"
              name="Orders"
              stroke="#c26d17"
              strokeWidth={2}
              isAnimationActive={animate}
            />
          </ComposedChart>
        </ResponsiveContainer>
      )}
    </ChartFigure>
  );
}
