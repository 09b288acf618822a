import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { compareTraces } from '../src/compare/compare.js';
import { compareCharts, compareHtml } from '../src/compare/html.js';
import { render } from '../src/cli/compare.js';
import { writeSyntheticTrace } from './synthetic.js';
import { tmp } from './helpers.js';
import { readTrace } from '../src/trace/reader.js';

/** The colour each group gets in a chart, as vega draws it (the compiled spec's `color` scale). */
async function colours(spec: TopLevelSpec, tables: Record<string, unknown[]>, groups: readonly string[]): Promise<string[]> {
  const view = new vega.View(vega.parse(vl.compile({ ...spec, datasets: tables } as TopLevelSpec).spec), { renderer: 'none' });
  await view.runAsync();
  const scale = view.scale('color') as (g: string) => string;
  const out = groups.map((g) => scale(g));
  view.finalize();
  return out;
}

test('compare --html: a group keeps its colour in both charts even when it lacks the metric', async () => {
  const dir = tmp();
  // the reference (a tanh output layer) has no dead_rows at layer 3; the others have
  const paths = [
    writeSyntheticTrace(dir, { combo: 'tanh-sigmoid-tanh', seed: 1, acc: 0.9, sat: 0.1 }),
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.8, sat: 0.3 }),
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.95, deadRows: 0.05 }),
  ];
  const c = compareTraces(paths, { metric: 'dead_rows', layer: 3 });
  const labels = c.groups.map((g) => g.label);
  assert.deepEqual(labels, ['tanh-sigmoid-tanh_s1', 'relu-sigmoid-relu_s1', 'relu-relu-relu_s1']);
  const { panels, tables } = compareCharts(c);
  const [overlay, accuracy] = await Promise.all(panels.map((p) => colours(p.spec, tables, labels)));
  assert.deepEqual(overlay, accuracy);
  assert.equal(new Set(accuracy).size, 3, 'three groups, three colours');
  assert.match(panels[0].caption, /No data for tanh-sigmoid-tanh_s1/);
});

test('compare says "no data" where nothing could be compared (missing or NaN series), never "never diverges"', () => {
  const dir = tmp();
  const ref = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.8, sat: 0.3 });
  const nan = writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.9, deadRows: 0.1, nanMetrics: ['dead_rows'] });
  const same = writeSyntheticTrace(dir, { combo: 'relu-tanh-relu', seed: 1, acc: 0.3, deadRows: 0.8 });
  const c = compareTraces([ref, nan, same], { metric: 'dead_rows', layer: 3, tol: 0.5 });
  assert.deepEqual(c.divergence.map((d) => [d.compared > 0, d.maxDiff === null]), [[false, true], [true, false]]);
  const text = render(c);
  assert.match(text, /relu-relu-relu_s1: .*no data: no step where both it and the reference have a finite value/);
  assert.doesNotMatch(text, /relu-relu-relu_s1: .*never diverges/);
  assert.match(text, /relu-tanh-relu_s1: .*never diverges beyond 0\.5 \(largest difference [\d.]+ over 60 step\(s\)\)/);
  const html = compareHtml(c);
  assert.match(html, /<li>relu-relu-relu_s1: no data: /);
  assert.doesNotMatch(html, /relu-relu-relu_s1: never diverges/);
  // the reference without the metric: nothing is compared for any group
  const none = compareTraces([writeSyntheticTrace(tmp(), { combo: 'tanh-sigmoid-tanh', seed: 1, acc: 0.9, sat: 0.1 }), ref], { metric: 'dead_rows', layer: 3 });
  assert.equal(none.divergence[0].compared, 0);
  assert.match(render(none), /relu-sigmoid-relu_s1: .*no data/);
});

test('compare with one group says there is nothing to set it against, not an empty list', () => {
  const dir = tmp();
  const runs = [1, 2].map((seed) => writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.3, deadRows: 0.8, sat: 0.3 }));
  const c = compareTraces(runs, { metric: 'dead_rows', layer: 3, tol: 0.05 });
  assert.equal(c.groups.length, 1);
  assert.match(render(c), /dead_rows \(layer 3\): one group \(relu-sigmoid-relu \(2 seeds\)\), nothing to set against it; give runs of other combinations or settings to compare(\n|$)/);
  assert.match(compareHtml(c), /<p>dead_rows \(layer 3\): one group \(relu-sigmoid-relu \(2 seeds\)\), nothing to set against it; [^<]*<\/p>(?!<ul>)/);
});

test('compare --html escapes group labels (an attached model may be named anything)', () => {
  const dir = tmp();
  const c = compareTraces([
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.8 }),
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.9, deadRows: 0.1 }),
  ], { metric: 'dead_rows', layer: 3 });
  const evil = '<img src=x onerror=alert(1)>';
  const html = compareHtml({ ...c, groups: c.groups.map((g, i) => ({ ...g, label: i ? evil : g.label })), divergence: c.divergence.map((d) => ({ ...d, group: evil })) });
  const body = html.slice(0, html.indexOf('<script'));
  assert.ok(!body.includes(evil), 'the label reaches the page as text, not markup');
  assert.ok(body.includes('&lt;img src=x onerror=alert(1)&gt;'));
});

test('compare draws a band over seeds: at each step the lowest and the highest seed beside their mean, checked against the traces; a group of one seed has no band', async () => {
  const dir = tmp();
  const three = [1, 2, 3].map((seed) => writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.2 + 0.1 * seed, deadRows: 0.3 * seed }));
  const one = writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.95, deadRows: 0.05 });
  const c = compareTraces([...three, one], { metric: 'dead_rows', layer: 3 });
  assert.deepEqual(c.groups.map((g) => g.seeds.length), [3, 1]);
  // reference: each trace's own rows, by plain loops
  const perStep = new Map<number, number[]>();
  for (const p of three) {
    const t = readTrace(p).columns;
    for (let i = 0; i < t.length; i++) {
      if (t.metrics[t.metric[i]] !== 'dead_rows' || t.layer[i] !== 3 || t.probes[t.probe[i]] !== 'dead-relu') continue;
      perStep.set(t.step[i], [...(perStep.get(t.step[i]) ?? []), t.value[i]]);
    }
  }
  const mine = c.series.filter((s) => s.group === c.groups[0].label);
  assert.equal(mine.length, perStep.size);
  let spread = 0;
  for (const s of mine) {
    const vs = perStep.get(s.step)!;
    assert.equal(vs.length, 3);
    assert.equal(s.lo, Math.min(...vs));
    assert.equal(s.hi, Math.max(...vs));
    assert.ok(Math.abs(s.value - vs.reduce((a, b) => a + b, 0) / 3) < 1e-12);
    spread = Math.max(spread, s.hi - s.lo);
  }
  assert.ok(spread > 0.1, 'the seeds differ: the band has a width');
  // the accuracy band: per epoch, the lowest and highest seed's test accuracy
  for (const e of c.evals.filter((x) => x.group === c.groups[0].label)) assert.ok(e.n === 3 && e.lo < e.testAcc && e.testAcc < e.hi, JSON.stringify(e));
  // drawn: one area per chart for the group of seeds, none for the group of one run
  const { panels, tables } = compareCharts(c);
  for (const p of panels) {
    const view = new vega.View(vega.parse(vl.compile({ ...p.spec, datasets: tables } as TopLevelSpec).spec), { renderer: 'none' });
    await view.runAsync();
    type Item = { datum?: { group?: string }; items?: Item[]; marktype?: string };
    const areas: string[] = [];
    const walk = (n: Item, type?: string) => { const t = n.marktype ?? type; if (t === 'area' && n.datum?.group) areas.push(n.datum.group); for (const k of n.items ?? []) walk(k, t); };
    walk((view.scenegraph() as unknown as { root: Item }).root);
    view.finalize();
    assert.deepEqual([...new Set(areas)], [c.groups[0].label], `${p.id}: a band for the seeds only`);
  }
  assert.match(panels[0].caption, /the band the lowest and the highest seed/);
});
