import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as vl from 'vega-lite';
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { readTrace } from '../src/trace/reader.js';
import { digestTrace } from '../src/read/digest.js';
import { buildDatasets } from '../src/report/datasets.js';
import { panels, REPORT_NEEDS, NUM, SHARE_AXIS_MIN, type Panel } from '../src/report/panels.js';
import { Metric, SHARE_METRICS } from '../src/trace/metrics.js';
import type { SceneNode } from './scene.js';
import { fileSpec } from '../src/report/index.js';
import { wrongSideNoiseRun } from './built-trace.js';
import { tmp } from './helpers.js';

type Item = { items?: Item[]; role?: string; text?: unknown; datum?: { value?: number } };

/** Draws a spec headless and gives the labels of each axis of its scenegraph, as text, with the tick each labels. */
async function axisLabels(spec: TopLevelSpec): Promise<{ text: string; tick: number }[][]> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  await view.runAsync();
  const axes: { text: string; tick: number }[][] = [];
  const walk = (n: Item) => {
    if (n.role === 'axis-label') axes.push((n.items ?? []).map((i) => ({ text: String(i.text), tick: Number(i.datum?.value) })));
    for (const c of n.items ?? []) walk(c);
  };
  walk((view.scenegraph() as unknown as { root: Item }).root);
  view.finalize();
  return axes;
}

test('a share axis ending at 0.12 labels its ticks 0.1 and 0.12, not "0.1" twice (the dead_units chart of a run with a rule at 0.115)', async () => {
  const rules = [{ rule: 'dead-layer', action: 'warn', threshold: 0.115, patience: 50 }];
  const path = wrongSideNoiseRun(tmp(), 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid'], rules);
  const digest = digestTrace(readTrace(path), REPORT_NEEDS);
  const d = buildDatasets([digest], []);
  const p = panels(d, { probes: new Set(digest.probes), h1: false, h2: false, deaths: false, study: false }).panels.find((x) => x.id === 'run-dead-relu') as Panel;
  const axes = await axisLabels(fileSpec(p, d) as TopLevelSpec);
  const shares = axes.filter((a) => a.some((l) => l.tick === 0.12));
  assert.equal(shares.length, 1, `one axis reaches 0.12 (dead_units): ${JSON.stringify(axes.map((a) => a.map((l) => l.text)))}`);
  assert.deepEqual(shares[0].map((l) => l.text), ['0', '0.02', '0.04', '0.06', '0.08', '0.1', '0.12']);
});

test('every linear axis of the report labels each tick with a distinct text that reads back as the tick, over domains from 0 to 1e-5 … 2000', async () => {
  const ends = [...Array.from({ length: 150 }, (_, k) => (k + 1) / 100), 0.0012, 0.012, 1.2e-5, 1.5e-5, 0.35, 12, 120, 1200, 2000, 0.5001];
  const bad: string[] = [];
  for (const end of ends) {
    const spec = {
      data: { values: [{ v: 0 }, { v: end }] }, mark: 'point', height: 160, width: 220,
      encoding: { y: { field: 'v', type: 'quantitative', scale: { zero: true }, axis: NUM }, x: { field: 'v', type: 'quantitative', axis: NUM } },
    } as TopLevelSpec;
    for (const axis of await axisLabels(spec)) {
      const texts = axis.map((l) => l.text);
      if (new Set(texts).size !== texts.length) bad.push(`[0, ${end}]: ${texts.join(' ')}`);
      for (const l of axis) if (Math.abs(Number(l.text) - l.tick) > 1e-9 * Math.max(1, end)) bad.push(`[0, ${end}]: tick ${l.tick} labelled ${l.text}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('a share exactly 0 at every step (dead_rows of a healthy run) is drawn on the floor of an axis reaching SHARE_AXIS_MIN, not halfway up an axis [0, 0] with a lone "0"', async () => {
  const path = wrongSideNoiseRun(tmp(), 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid']);
  const digest = digestTrace(readTrace(path), REPORT_NEEDS);
  const d = buildDatasets([digest], []);
  assert.ok(d.series.filter((r) => r.metric === Metric.deadRows).every((r) => r.value === 0), 'the fixture: dead_rows is 0 throughout');
  const p = panels(d, { probes: new Set(digest.probes), h1: false, h2: false, deaths: false, study: false }).panels.find((x) => x.id === 'run-dead-relu') as Panel;
  const view = new vega.View(vega.parse(vl.compile(fileSpec(p, d) as TopLevelSpec).spec), { renderer: 'none' });
  await view.runAsync();
  // the panel's charts left to right: inactive_frac, dead_units, dead_rows
  const domain = view.scale('concat_2_concat_0_y').domain() as number[];
  const ys = new Set<number>();
  const walk = (n: SceneNode, type?: string) => {
    const t = n.marktype ?? type;
    if (t === 'line' && n.datum?.metric === Metric.deadRows) ys.add(n.y ?? NaN);
    for (const c of n.items ?? []) walk(c, c.marktype ? undefined : t);
  };
  walk((view.scenegraph() as unknown as { root: SceneNode }).root);
  view.finalize();
  assert.deepEqual(domain, [0, SHARE_AXIS_MIN], 'the axis runs from 0 to the least extent of a share axis');
  assert.deepEqual([...ys], [160], 'every point of the line at the bottom of the 160 px plot');
  const labels = (await axisLabels(fileSpec(p, d) as TopLevelSpec)).filter((a) => a.some((l) => l.tick === SHARE_AXIS_MIN));
  assert.ok(labels.length >= 1 && labels.every((a) => a.length > 2), `ticks up the axis: ${JSON.stringify(labels.map((a) => a.map((l) => l.text)))}`);
});

test('every share axis of the per-step charts reaches at least SHARE_AXIS_MIN (linear views) and still reaches a threshold above it; no other axis has the floor; vega-lite compiles them without a warning', async () => {
  const rules = [{ rule: 'dead-layer', action: 'warn', threshold: 0.115, patience: 50 }];
  const path = wrongSideNoiseRun(tmp(), 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid'], rules);
  const digest = digestTrace(readTrace(path), REPORT_NEEDS);
  const d = buildDatasets([digest], []);
  const ps = panels(d, { probes: new Set(digest.probes), h1: false, h2: false, deaths: false, study: false }).panels;
  const ends: Record<string, number> = {};
  const warnings: unknown[] = [];
  const logger = { level() { return logger; }, info() { return logger; }, debug() { return logger; }, error(...m: unknown[]) { warnings.push(m); return logger; }, warn(...m: unknown[]) { warnings.push(m); return logger; } };
  for (const p of ps.filter((x) => x.id === 'run-dead-relu' || x.id === 'run-saturation')) {
    const metrics = (p.spec as unknown as { hconcat: { vconcat: { title: string }[] }[] }).hconcat.map((c) => c.vconcat[0].title);
    const view = new vega.View(vega.parse(vl.compile(fileSpec(p, d) as TopLevelSpec, { logger }).spec), { renderer: 'none' });
    await view.runAsync();
    metrics.forEach((m, i) => { ends[m] = (view.scale(`concat_${i}_concat_0_y`).domain() as number[])[1]; });
    view.finalize();
    assert.match(p.caption, new RegExp(`reaches at least ${SHARE_AXIS_MIN}`));
  }
  assert.deepEqual(Object.keys(ends), [Metric.inactiveFrac, Metric.deadUnits, Metric.deadRows, Metric.satFrac, Metric.satWrongFrac, Metric.meanDeriv]);
  // the fixture: dead_rows 0, sat_wrong_frac ≤ 0.01 and dead_units ≤ 0.08 (under a rule at 0.115), mean_deriv 0.04
  assert.equal(ends[Metric.deadRows], SHARE_AXIS_MIN);
  assert.ok(ends[Metric.deadUnits] >= 0.115 && ends[Metric.deadUnits] < 0.2, `dead_units reaches its rule at 0.115: ${ends[Metric.deadUnits]}`);
  assert.ok(ends[Metric.satWrongFrac] >= 0.5, 'sat_wrong_frac reaches What is wrong\'s line at 0.5');
  for (const m of Object.keys(ends)) if (SHARE_METRICS.has(m)) assert.ok(ends[m] >= SHARE_AXIS_MIN, `${m} ends at ${ends[m]}`);
  assert.ok(ends[Metric.meanDeriv] < SHARE_AXIS_MIN, `mean_deriv (not a share) fits its data: ${ends[Metric.meanDeriv]}`);
  assert.deepEqual(warnings, []);
});

/** The saturation panel of a page of these runs (one built trace each). */
function saturationOf(runs: readonly [string, readonly string[]][]) {
  const dir = tmp();
  const digests = runs.map(([name, acts]) => digestTrace(readTrace(wrongSideNoiseRun(dir, name, acts)), REPORT_NEEDS));
  const d = buildDatasets(digests, []);
  const p = panels(d, { probes: new Set(digests.flatMap((x) => x.probes)), h1: false, h2: false, deaths: false, study: false }).panels.find((x) => x.id === 'run-saturation') as Panel;
  const titles = (spec: TopLevelSpec) => (spec as unknown as { hconcat: { vconcat: { title: string }[] }[] }).hconcat.map((c) => c.vconcat[0].title);
  return { d, p, titles };
}

/** The texts a spec draws headless with its run selector at `pick`. */
async function textsAt(spec: TopLevelSpec, pick: string): Promise<string[]> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  view.signal('pick', pick);
  await view.runAsync();
  const out: string[] = [];
  const walk = (n: Item & { marktype?: string }, type?: string) => {
    const t = n.marktype ?? type;
    if (t === 'text' && n.text !== undefined) out.push((Array.isArray(n.text) ? n.text.join('\n') : String(n.text)).replace(/\n/g, ' '));
    for (const c of n.items ?? []) walk(c, (c as { marktype?: string }).marktype ? undefined : t);
  };
  walk((view.scenegraph() as unknown as { root: Item }).root);
  view.finalize();
  return out;
}

test('a run whose output layer cannot saturate (relu-sigmoid-relu) gets no sat_wrong_frac chart (not an empty axis reading "0"), and its caption says why', () => {
  const { d, p, titles } = saturationOf([['relu-sigmoid-relu_s1', ['relu', 'sigmoid', 'relu']]]);
  assert.ok(!d.series.some((r) => r.metric === Metric.satWrongFrac), 'the fixture: no sat_wrong_frac');
  assert.deepEqual(titles(p.spec), [Metric.satFrac, Metric.meanDeriv]);
  assert.deepEqual(titles(p.logSpec!), [Metric.satFrac, Metric.meanDeriv]);
  assert.match(p.caption, /No chart of sat_wrong_frac: no run here records it \(it is recorded only for an output layer that can saturate\)/);
  // a run with a sigmoid output: all three, and no word of a missing chart
  const other = saturationOf([['relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid']]]);
  assert.deepEqual(other.titles(other.p.spec), [Metric.satFrac, Metric.satWrongFrac, Metric.meanDeriv]);
  assert.doesNotMatch(other.p.caption, /No chart of|does not record/);
});

test('on a page where only some runs record sat_wrong_frac, its chart states that the chosen run has none when that run is chosen, and nothing when it has the figure', async () => {
  const { d, p, titles } = saturationOf([['relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid']], ['relu-sigmoid-relu_s1', ['relu', 'sigmoid', 'relu']]]);
  assert.deepEqual(titles(p.spec), [Metric.satFrac, Metric.satWrongFrac, Metric.meanDeriv]);
  assert.match(p.caption, /When the chosen run does not record sat_wrong_frac, its chart says so/);
  for (const spec of [p.spec, p.logSpec!]) {
    const none = (await textsAt(fileSpec({ ...p, spec }, d) as TopLevelSpec, 'relu-sigmoid-relu_s1')).filter((t) => /no sat_wrong_frac in the chosen run/.test(t));
    assert.deepEqual(none, ['no sat_wrong_frac in the chosen run it is recorded only for an output layer that can saturate']);
    const has = (await textsAt(fileSpec({ ...p, spec }, d) as TopLevelSpec, 'relu-relu-sigmoid_s1')).filter((t) => /no sat_wrong_frac/.test(t));
    assert.deepEqual(has, []);
  }
});
