import type { TopLevelSpec } from 'vega-lite';
import { chartsPage } from '../report/html.js';
import { VL_SCHEMA } from '../report/panels.js';
import type { Comparison } from './compare.js';

const MAX_POINTS = 400;

/** The chosen metric of every group over steps (bucket means), and test accuracy per epoch. */
export function compareHtml(c: Comparison): string {
  const steps = c.series.reduce((m, s) => Math.max(m, s.step + 1), 1);
  const bucket = Math.max(1, Math.ceil(steps / MAX_POINTS));
  const acc = new Map<string, { group: string; step: number; sum: number; n: number }>();
  for (const s of c.series) {
    const b = Math.floor(s.step / bucket) * bucket, k = `${s.group}|${b}`;
    const a = acc.get(k) ?? { group: s.group, step: b, sum: 0, n: 0 };
    a.sum += s.value; a.n++;
    acc.set(k, a);
  }
  const series = [...acc.values()].map((a) => ({ group: a.group, step: a.step, value: Number((a.sum / a.n).toPrecision(4)) }));
  const where = c.layer === 0 ? 'network' : `layer ${c.layer}`;
  const color = { field: 'group', type: 'nominal', title: null, sort: c.groups.map((g) => g.label) } as const;
  const overlay: TopLevelSpec = {
    $schema: VL_SCHEMA, data: { name: 'series' }, title: `${c.metric} (${where})`,
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'value', type: 'quantitative', title: c.metric }, color, tooltip: [{ field: 'group' }, { field: 'step' }, { field: 'value' }] },
    width: 640, height: 260,
  };
  const accuracy: TopLevelSpec = {
    $schema: VL_SCHEMA, data: { name: 'evals' }, title: 'test accuracy',
    mark: { type: 'line', point: true },
    encoding: { x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1 } }, y: { field: 'testAcc', type: 'quantitative', title: 'test accuracy', scale: { domain: [0, 1] } }, color },
    width: 640, height: 200,
  };
  const panels = [
    { id: 'overlay', title: `${c.metric} per step`, caption: `Mean over each group's seeds, in buckets of ${bucket} step(s); the first group is the reference.`, spec: overlay },
    { id: 'accuracy', title: 'Test accuracy', caption: 'After each epoch, mean over seeds.', spec: accuracy },
  ];
  const rows = c.divergence.map((d) => `<li>${d.group}: ${d.step === null ? 'never diverges' : `diverges at step ${d.step} (epoch ${d.epoch})`} beyond ${c.tol}</li>`).join('');
  return chartsPage('probe compare', `${c.groups.map((g) => g.label).join(' · ')}`, `<ul>${rows}</ul>`, panels, { series, evals: c.evals });
}
