import type { TopLevelSpec } from 'vega-lite';
import { chartsPage, esc, VL_SCHEMA, type ChartPanel } from '../page/shell.js';
import { diagnosisSection, DIAGNOSIS_STYLE } from '../page/diagnosis-html.js';
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
  const acc = new Map<string, { group: string; step: number; sum: number; lo: number; hi: number; n: number; seeds: number }>();
  for (const s of c.series) {
    if (!Number.isFinite(s.value)) continue; // a gap in the line, not a NaN mean over the bucket
    const b = bucketStart(s.step, bucket), k = `${s.group}|${b}`;
    const a = acc.get(k) ?? { group: s.group, step: b, sum: 0, lo: 0, hi: 0, n: 0, seeds: 0 };
    a.sum += s.value; a.lo += s.lo; a.hi += s.hi; a.n++; a.seeds = Math.max(a.seeds, s.n);
    acc.set(k, a);
  }
  const p4 = (v: number) => Number(v.toPrecision(4));
  // the band: the lowest and the highest seed at each step, averaged over the bucket; only where a group has two seeds or more
  const series = [...acc.values()].map((a) => ({ group: a.group, step: a.step, value: p4(a.sum / a.n), ...(a.seeds > 1 ? { lo: p4(a.lo / a.n), hi: p4(a.hi / a.n) } : {}) }));
  const evals = c.evals.filter((e) => Number.isFinite(e.testAcc)).map(({ n, lo, hi, ...e }) => ({ ...e, ...(n > 1 ? { lo, hi } : {}) }));
  const where = c.layer === 0 ? 'network' : `layer ${c.layer}`;
  const labels = c.groups.map((g) => g.label);
  const color = { field: 'group', type: 'nominal', title: null, sort: labels, scale: { domain: labels, scheme: 'tableau10' } } as const;
  const overlay: TopLevelSpec = {
    $schema: VL_SCHEMA, data: { name: 'series' }, title: `${c.metric} (${where})`,
    encoding: { x: { field: 'step', type: 'quantitative' }, color },
    layer: [
      { transform: [{ filter: 'isValid(datum.lo)' }], mark: { type: 'area', opacity: 0.2 }, encoding: { y: { field: 'lo', type: 'quantitative', title: c.metric }, y2: { field: 'hi' }, tooltip: [{ field: 'group' }, { field: 'step' }, { field: 'lo', title: 'lowest seed' }, { field: 'hi', title: 'highest seed' }] } },
      { mark: { type: 'line', strokeWidth: 1.5 }, encoding: { y: { field: 'value', type: 'quantitative', title: c.metric }, tooltip: [{ field: 'group' }, { field: 'step' }, { field: 'value', title: 'mean over seeds' }] } },
    ],
    width: 640, height: 260,
  };
  const accuracy: TopLevelSpec = {
    $schema: VL_SCHEMA, data: { name: 'evals' }, title: 'test accuracy',
    encoding: { x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } }, color },
    layer: [
      { transform: [{ filter: 'isValid(datum.lo)' }], mark: { type: 'area', opacity: 0.2 }, encoding: { y: { field: 'lo', type: 'quantitative', title: 'test accuracy', scale: { domain: [0, 1] } }, y2: { field: 'hi' } } },
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'testAcc', type: 'quantitative', title: 'test accuracy', scale: { domain: [0, 1] } }, tooltip: [{ field: 'group' }, { field: 'epoch' }, { field: 'testAcc', title: 'mean over seeds', format: '.2%' }, { field: 'lo', title: 'lowest seed', format: '.2%' }, { field: 'hi', title: 'highest seed', format: '.2%' }] } },
    ],
    width: 640, height: 200,
  };
  const missing = labels.filter((l) => !series.some((s) => s.group === l));
  const panels: ChartPanel[] = [
    { id: 'overlay', title: `${c.metric} per step`, caption: `The line is the mean over each group's seeds, the band the lowest and the highest seed (groups of two seeds or more), in buckets of ${bucket} step(s); the legend names the groups; the first group is the reference.${missing.length ? ` No data for ${missing.join(', ')}.` : ''}`, spec: overlay },
    { id: 'accuracy', title: 'Test accuracy', caption: 'After each epoch: the line is the mean over seeds, the band the lowest and the highest seed.', spec: accuracy },
  ];
  return { panels, tables: { series, evals } };
}

/** The `compare --html` page. */
export function compareHtml(c: Comparison): string {
  const { panels, tables } = compareCharts(c);
  const rows = c.divergence.map((d) => `<li>${esc(d.group)}: ${esc(divergenceText(d, c.tol).text)}</li>`).join('');
  const ref = `<p>${esc(divergenceHeading(c))}</p>`;
  // what is wrong with each run leads, as on every page
  return chartsPage('probe compare', `${c.groups.map((g) => g.label).join(' · ')}`, `${DIAGNOSIS_STYLE}${diagnosisSection(c.diagnoses)}${ref}${rows ? `<ul>${rows}</ul>` : ''}`, panels, tables);
}
