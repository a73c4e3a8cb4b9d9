import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Bucket {
  start: string;
  counts: Record<string, number>;
}

/** Severities from the bottom of a stack up, with their colours (the list's badges'). */
export const STACK: [string, string][] = [
  ['unspecified', '#9ca3af'],
  ['trace', '#6b7280'],
  ['debug', '#4b5563'],
  ['info', '#1d4ed8'],
  ['warn', '#b45309'],
  ['error', '#b91c1c'],
  ['fatal', '#7f1d1d'],
];

export const totalsOf = (buckets: Bucket[]) =>
  Object.fromEntries(STACK.map(([s]) => [s, buckets.reduce((n, b) => n + (b.counts[s] ?? 0), 0)]));

/**
 * Counts over time stacked by severity, as bars (uPlot draws on a canvas: the numbers are also
 * given in words next to it). A click on a bar calls `onPick` with its bucket's index.
 */
export function StackedHistogram({
  buckets,
  label,
  onPick,
}: {
  buckets: Bucket[];
  label: string;
  onPick?: (index: number) => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const pick = useRef(onPick);
  pick.current = onPick;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const xs = buckets.map((b) => Date.parse(b.start) / 1000);
    // Cumulative from the bottom; drawn from the top of the stack down so each band shows.
    let running = buckets.map(() => 0);
    const layers = STACK.map(([sev, colour]) => {
      running = running.map((v, k) => v + (buckets[k]!.counts[sev] ?? 0));
      return { sev, colour, values: running };
    }).reverse();
    const bars = uPlot.paths.bars!({ size: [0.9, 64] });
    const plot = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: 220,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        series: [
          {},
          ...layers.map((l) => ({
            label: l.sev,
            stroke: l.colour,
            fill: l.colour,
            paths: bars,
            points: { show: false },
          })),
        ],
        hooks: {
          ready: [
            (u: uPlot) =>
              u.over.addEventListener('click', () => {
                const idx = u.cursor.idx;
                if (idx !== null && idx !== undefined) pick.current?.(idx);
              }),
          ],
        },
      },
      [xs, ...layers.map((l) => l.values)],
      el,
    );
    const resize = () => plot.setSize({ width: Math.max(300, el.clientWidth), height: 220 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [buckets]);
  const totals = totalsOf(buckets);
  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label={label} />
      <figcaption data-testid="histogram-totals">
        {STACK.filter(([s]) => totals[s]! > 0)
          .reverse()
          .map(([s, colour]) => (
            <span key={s} class="legend">
              <span class="swatch" style={{ background: colour }} aria-hidden="true" />
              {s} {totals[s]}
            </span>
          ))}
      </figcaption>
    </figure>
  );
}
