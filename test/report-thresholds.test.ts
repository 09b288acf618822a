import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as vl from 'vega-lite';
import * as vega from 'vega';
import { readTrace } from '../src/trace/reader.js';
import { digestTrace } from '../src/read/digest.js';
import { buildDatasets } from '../src/report/datasets.js';
import { panels, REPORT_NEEDS, type Panel } from '../src/report/panels.js';
import { fileSpec } from '../src/report/index.js';
import { shareThreshold } from '../src/read/diagnose-rules.js';
import { Metric } from '../src/trace/metrics.js';
import { readStoredConfig } from '../src/trace/stored-config.js';
import { wrongSideNoiseRun } from './built-trace.js';
import { tmp } from './helpers.js';
import { labelsOverData, type SceneNode } from './scene.js';

/** The report's panels for one trace, and each panel's chart file spec (its rows attached). */
function reportOf(path: string) {
  const digest = digestTrace(readTrace(path), REPORT_NEEDS);
  const d = buildDatasets([digest], []);
  const { panels: ps } = panels(d, { probes: new Set(digest.probes), h1: false, h2: false, deaths: false, study: false });
  return { d, spec: (id: string) => fileSpec(ps.find((p) => p.id === id) as Panel, d) };
}

/**
 * Draws a per-step panel headless and gives, per metric (the panel's charts, left to right), the
 * domain of its y scale and the thresholds its dashed rules are drawn at.
 */
async function drawn(spec: ReturnType<ReturnType<typeof reportOf>['spec']>, metrics: readonly string[]) {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  await view.runAsync();
  type Item = { items?: Item[]; marktype?: string; datum?: Record<string, unknown> };
  const rules: { metric: unknown; threshold: unknown }[] = [];
  const walk = (n: Item, type?: string) => {
    const t = n.marktype ?? type;
    // the dashed rules in the plot, not their samples in the key under it (rows of one `line` of a label)
    if (t === 'rule' && n.datum && 'threshold' in n.datum && !('line' in n.datum)) rules.push({ metric: n.datum.metric, threshold: n.datum.threshold });
    for (const c of n.items ?? []) walk(c, t);
  };
  walk((view.scenegraph() as unknown as { root: Item }).root);
  const out = Object.fromEntries(metrics.map((m, i) => [m, {
    domain: view.scale(`concat_${i}_concat_0_y`).domain() as number[],
    rules: rules.filter((r) => r.metric === m).map((r) => r.threshold as number).sort((a, b) => a - b),
  }]));
  view.finalize();
  return out;
}

const SAT = [Metric.satFrac, Metric.satWrongFrac, Metric.meanDeriv];
const DEAD = [Metric.inactiveFrac, Metric.deadUnits, Metric.deadRows];

test('a wrong-side saturation share of ~0.5% is drawn against the threshold that would count: its axis runs from 0 to the rule at 0.5, not 0 to 0.01', async () => {
  const { d, spec } = reportOf(wrongSideNoiseRun(tmp(), 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid']));
  const at = shareThreshold(Metric.satWrongFrac, 'output');
  const sat = await drawn(spec('run-saturation'), SAT);
  assert.deepEqual(sat[Metric.satWrongFrac].rules, [at], 'one dashed rule, at the diagnosis\'s threshold');
  const [lo, hi] = sat[Metric.satWrongFrac].domain;
  assert.equal(lo, 0, 'a share axis starts at 0');
  assert.ok(hi >= at, `the axis reaches the threshold ${at}: it ends at ${hi}`);
  // its label says which rule and where
  const row = d.thresholds.find((r) => r.metric === Metric.satWrongFrac);
  assert.match(String(row?.label), /what is wrong.*saturated above 0\.5/);
  // the output's sat_frac: no rule reads it (only a hidden layer's), so no line, and an axis from 0 to its data
  assert.deepEqual(sat[Metric.satFrac].rules, []);
  assert.equal(sat[Metric.satFrac].domain[0], 0);
  // shares no rule reads: zero-based axes over their data, no line
  const dead = await drawn(spec('run-dead-relu'), DEAD);
  for (const m of DEAD) {
    assert.deepEqual(dead[m].rules, [], `${m} has no rule in this run`);
    assert.equal(dead[m].domain[0], 0, `${m} starts at 0`);
  }
  assert.ok(dead[Metric.deadUnits].domain[1] < 0.2, `dead_units' axis fits its data (≤ 0.08): ${dead[Metric.deadUnits].domain}`);
  assert.ok(!d.thresholds.some((r) => r.metric === Metric.meanDeriv || r.metric === Metric.inactiveFrac), 'no threshold row for a figure no rule reads');
});

test('the lines of rules a run was given come from its trace: their thresholds, their layers, beside the diagnosis\'s', async () => {
  const rules = [
    { rule: 'saturation', action: 'warn', threshold: 0.37, patience: 200 },
    { rule: 'dead-layer', action: 'stop', threshold: 0.23, patience: 50 },
    // not read on any share this run records: no line
    { rule: 'dead-output', action: 'stop', threshold: 0.61, patience: 200 },
    { rule: 'non-finite', action: 'stop', threshold: null, patience: 0 },
  ];
  const { d, spec } = reportOf(wrongSideNoiseRun(tmp(), 'relu-sigmoid-sigmoid_s1', ['relu', 'sigmoid', 'sigmoid'], rules));
  const at = shareThreshold(Metric.satWrongFrac, 'output');
  const sat = await drawn(spec('run-saturation'), SAT);
  // the rule saturation reads sat_frac on the hidden layer 2 and sat_wrong_frac on the output: both charts
  assert.deepEqual(sat[Metric.satWrongFrac].rules, [0.37, at]);
  assert.deepEqual(sat[Metric.satFrac].rules, [0.37, shareThreshold(Metric.satFrac, 'hidden')]);
  assert.ok(sat[Metric.satWrongFrac].domain[1] >= at && sat[Metric.satWrongFrac].domain[0] === 0);
  // on a chart that draws layers the rule does not read (the output's sat_frac), the label names the ones it reads
  const satFrac = d.thresholds.filter((r) => r.metric === Metric.satFrac).map((r) => String(r.label));
  assert.ok(satFrac.some((l) => /rule saturation \(warn\) fires at ≥ 0\.37 \(layer 2\)/.test(l)), satFrac.join(' | '));
  assert.ok(satFrac.some((l) => /what is wrong.*above 0\.5 \(layer 2\)/.test(l)), satFrac.join(' | '));
  const dead = await drawn(spec('run-dead-relu'), DEAD);
  assert.deepEqual(dead[Metric.deadUnits].rules, [0.23], 'dead-layer on the hidden ReLU');
  assert.ok(dead[Metric.deadUnits].domain[1] >= 0.23, `the axis reaches 0.23: ${dead[Metric.deadUnits].domain}`);
  assert.deepEqual(dead[Metric.deadRows].rules, [], 'dead-output reads an output ReLU: this output is a sigmoid');
  assert.deepEqual(dead[Metric.inactiveFrac].rules, []);
  assert.match(String(d.thresholds.find((r) => r.metric === Metric.deadUnits)?.detail), /stop action.*dead_units ≥ 0\.23 at every probed step for 50 steps/);
});

test('the log-scale form of a share chart draws the threshold too', async () => {
  const path = wrongSideNoiseRun(tmp(), 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid']);
  const digest = digestTrace(readTrace(path), REPORT_NEEDS);
  const d = buildDatasets([digest], []);
  const p = panels(d, { probes: new Set(digest.probes), h1: false, h2: false, deaths: false, study: false }).panels.find((x) => x.id === 'run-saturation') as Panel;
  const sat = await drawn(fileSpec({ ...p, spec: p.logSpec! }, d), SAT);
  assert.deepEqual(sat[Metric.satWrongFrac].rules, [shareThreshold(Metric.satWrongFrac, 'output')]);
  assert.ok(sat[Metric.satWrongFrac].domain[1] >= 0.5);
});

test('a run\'s rules read back from its stored config: known rules with their numbers, anything else left out (no line drawn from a guess)', () => {
  const c = readStoredConfig({ rules: [
    { rule: 'saturation', action: 'warn', threshold: 0.3, patience: 200 },
    { rule: 'non-finite', action: 'stop', threshold: null, patience: 0 },
    { rule: 'saturaton', action: 'warn', threshold: 0.3, patience: 200 },
    { rule: 'dead-layer', action: 'maybe', threshold: 0.5, patience: 200 },
    { rule: 'dead-output', action: 'stop', threshold: '0.5', patience: 200 },
    'dead-layer', null,
  ] });
  assert.deepEqual(c.rules.map((r) => [r.rule, r.action, r.threshold, r.patience]), [['saturation', 'warn', 0.3, 200], ['non-finite', 'stop', NaN, 0]]);
  assert.deepEqual(readStoredConfig({}).rules, []);
  assert.deepEqual(readStoredConfig({ rules: 'all' }).rules, []);
});

test('a threshold inside the data\'s range is labelled where no point of the data is: the label of a dead-layer rule at 0.05 through dead_units of 0.02–0.08', async () => {
  const rules = [{ rule: 'dead-layer', action: 'warn', threshold: 0.05, patience: 50 }];
  const { spec } = reportOf(wrongSideNoiseRun(tmp(), 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid'], rules));
  const view = new vega.View(vega.parse(vl.compile(spec('run-dead-relu')).spec), { renderer: 'none' });
  await view.runAsync();
  const seen = labelsOverData((view.scenegraph() as unknown as { root: SceneNode }).root, Metric.deadUnits);
  view.finalize();
  assert.equal(seen.boxes.length, 1, 'the rule is labelled once');
  assert.match(seen.boxes[0].text, /rule dead-layer \(warn\) fires at ≥ 0\.05/);
  assert.ok(seen.points.length > 100, `the line is drawn: ${seen.points.length} points`);
  assert.deepEqual(seen.inside, [], `${seen.inside.length} points of the data under the label`);
});

test('the dead-units chart, which draws no line of "What is wrong" (it counts dead units from the activity windows), says where on the page that count is', () => {
  const path = wrongSideNoiseRun(tmp(), 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid']);
  const digest = digestTrace(readTrace(path), REPORT_NEEDS);
  const d = buildDatasets([digest], []);
  for (const deaths of [false, true]) {
    const ps = panels(d, { probes: new Set(digest.probes), h1: false, h2: false, deaths, study: false }).panels;
    const caption = (ps.find((p) => p.id === 'run-dead-relu') as Panel).caption;
    assert.match(caption, /draws no line here/);
    assert.match(caption, /count of each layer's dead units is in What is wrong at the top of this page/);
    // the chart of the units' deaths, by the title it has on the page, when the page has it
    const died = ps.find((p) => p.id === 'deaths');
    assert.equal(Boolean(died), deaths);
    if (died) assert.ok(caption.includes(`in ${died.title}, below`), caption);
    else assert.ok(!/step of death/.test(caption), caption);
  }
});
