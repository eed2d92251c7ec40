export interface Bar {
  label: string;
  /** Drawn filled. */
  value: number;
  /** The whole bar (capacity, quota); the largest value when omitted. */
  max?: number;
  /** Shown as text next to the bar. */
  text?: string;
}

/**
 * Horizontal bars in plain SVG: capacity vs allocated, usage per tenant. Labelled as one image
 * for assistive technology, with every number also in the text beside it.
 */
export function BarChart({ title, bars }: { title: string; bars: Bar[] }) {
  const rowHeight = 28;
  const labelWidth = 140;
  const width = 560;
  const barWidth = width - labelWidth - 150;
  const scaleMax = Math.max(1, ...bars.map((bar) => bar.max ?? bar.value));
  const height = Math.max(rowHeight, bars.length * rowHeight) + 4;
  const summary = bars.map((bar) => `${bar.label}: ${bar.text ?? bar.value}`).join('; ');
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      {bars.length === 0 ? (
        <p className="muted">No data.</p>
      ) : (
        <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}: ${summary}`} preserveAspectRatio="xMinYMin meet">
          {bars.map((bar, index) => {
            const y = index * rowHeight + 4;
            const total = bar.max ?? scaleMax;
            const full = (total / scaleMax) * barWidth;
            const filled = total > 0 ? Math.min(1, bar.value / total) * full : 0;
            const over = bar.max !== undefined && bar.value > bar.max;
            return (
              <g key={bar.label}>
                <text x={0} y={y + 15} className="chart-label">
                  {bar.label.length > 20 ? `${bar.label.slice(0, 19)}…` : bar.label}
                </text>
                <rect x={labelWidth} y={y} width={Math.max(full, 1)} height={18} className="chart-track" rx={3} />
                <rect x={labelWidth} y={y} width={filled} height={18} className={over ? 'chart-fill chart-over' : 'chart-fill'} rx={3} />
                <text x={labelWidth + barWidth + 8} y={y + 15} className="chart-value">
                  {bar.text ?? String(bar.value)}
                </text>
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}
