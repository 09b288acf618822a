import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as vl from 'vega-lite';
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { readTrace } from '../src/trace/reader.js';
import { digestTrace } from '../src/read/digest.js';
import { buildDatasets } from '../src/report/datasets.js';
import { panels, REPORT_NEEDS, NUM, type Panel } from '../src/report/panels.js';
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
