import type { TopLevelSpec } from 'vega-lite';
import { chartsPage, esc, VL_SCHEMA, type ChartPanel } from '../page/shell.js';
import { bucketSize, bucketStart } from '../read/stats.js';
import { divergenceHeading, divergenceText, type Comparison } from './compare.js';

const MAX_POINTS = 400;

/**
 * The charts of `compare --html` and their tables: the chosen metric of every group over steps
 * (bucket means) and test accuracy per epoch. Both charts share one colour per group, fixed by
 * the group order, so a group keeps its colour in both even when it lacks the metric in one.
 */
export function compareCharts(c: Comparison): { panels: ChartPanel[]; tables: Record<string, unknown[]> } {
  const steps = c.series.reduce((m, s) => Math.max(m, s.step + 1), 1);
  const bucket = bucketSize(steps, MAX_POINTS);
  const acc = new Map<string, { group: string; step: number; sum: number; n: number }>();
  for (const s of c.series) {
    if (!Number.isFinite(s.value)) continue; // a gap in the line, not a NaN mean over the bucket
    const b = bucketStart(s.step, bucket), k = `${s.group}|${b}`;
    const a = acc.get(k) ?? { group: s.group, step: b, sum: 0, n: 0 };
    a.sum += s.value; a.n++;
    acc.set(k, a);
  }
  const series = [...acc.values()].map((a) => ({ group: a.group, step: a.step, value: Number((a.sum / a.n).toPrecision(4)) }));
  const evals = c.evals.filter((e) => Number.isFinite(e.testAcc));
  const where = c.layer === 0 ? 'network' : `layer ${c.layer}`;
  const labels = c.groups.map((g) => g.label);
  const color = { field: 'group', type: 'nominal', title: null, sort: labels, scale: { domain: labels, scheme: 'tableau10' } } as const;
  const overlay: TopLevelSpec = {
    $schema: VL_SCHEMA, data: { name: 'series' }, title: `${c.metric} (${where})`,
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'value', type: 'quantitative', title: c.metric }, color, tooltip: [{ field: 'group' }, { field: 'step' }, { field: 'value' }] },
    width: 640, height: 260,
  };
  const accuracy: TopLevelSpec = {
    $schema: VL_SCHEMA, data: { name: 'evals' }, title: 'test accuracy',
    mark: { type: 'line', point: true },
    encoding: { x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } }, y: { field: 'testAcc', type: 'quantitative', title: 'test accuracy', scale: { domain: [0, 1] } }, color },
    width: 640, height: 200,
  };
  const missing = labels.filter((l) => !series.some((s) => s.group === l));
  const panels: ChartPanel[] = [
    { id: 'overlay', title: `${c.metric} per step`, caption: `Mean over each group's seeds, in buckets of ${bucket} step(s); the first group is the reference.${missing.length ? ` No data for ${missing.join(', ')}.` : ''}`, spec: overlay },
    { id: 'accuracy', title: 'Test accuracy', caption: 'After each epoch, mean over seeds.', spec: accuracy },
  ];
  return { panels, tables: { series, evals } };
}

/** The `compare --html` page. */
export function compareHtml(c: Comparison): string {
  const { panels, tables } = compareCharts(c);
  const rows = c.divergence.map((d) => `<li>${esc(d.group)}: ${esc(divergenceText(d, c.tol).text)}</li>`).join('');
  const ref = `<p>${esc(divergenceHeading(c))}</p>`;
  return chartsPage('probe compare', `${c.groups.map((g) => g.label).join(' · ')}`, `${ref}${rows ? `<ul>${rows}</ul>` : ''}`, panels, tables);
}
