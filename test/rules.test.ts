import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RuleWatch, type WatchedSlot } from '../src/rules/watch.js';
import { replayRules } from '../src/rules/replay.js';
import { parseRules, RULES, RULE_NAMES, RuleAction, normalizeRules, type RuleConfig } from '../src/rules/rules.js';
import { configHash, resolveConfig } from '../src/config.js';
import { readStoredConfig } from '../src/trace/stored-config.js';
import { runExperiment } from '../src/experiment/run.js';
import { attachProbes } from '../src/attach/session.js';
import { saveModelFiles } from '../src/attach/model-file.js';
import { readTrace, readTraceMeta } from '../src/trace/reader.js';
import { processFacts, TraceRecorder } from '../src/trace/recorder.js';
import { planSweep } from '../src/sweep/sweep.js';
import { checkTrace } from '../src/read/conformance.js';
import { isProbeError } from '../src/errors.js';
import type { RuleEvent, RunFacts } from '../src/trace/schema.js';
import { FIXTURES, runCli, tmp, useBackend } from './helpers.js';

before(() => useBackend('wasm'));

const rule = (name: RuleConfig['rule'], over: Partial<RuleConfig> = {}): RuleConfig => ({ rule: name, action: RuleAction.stop, threshold: RULES[name].threshold, patience: RULES[name].patience, ...over });

/** Feeds a watch probed steps: each step's values by slot index (missing: not measured that step). */
function feed(w: RuleWatch, steps: readonly [number, Readonly<Record<number, number>>, number?][]): RuleEvent[] {
  return steps.flatMap(([step, bySlot, loss = 1]) => {
    const active = Object.keys(bySlot).map(Number).sort((a, b) => a - b);
    return w.observe(step, Float32Array.from([loss, ...active.map((i) => bySlot[i])]), active);
  });
}

// a two-layer net: layer 1 hidden, layer 2 the output
const SLOTS: WatchedSlot[] = [
  { layer: 1, metric: 'dead_units', window: false },
  { layer: 2, metric: 'dead_units', window: false },
  { layer: 2, metric: 'dead_rows', window: false },
  { layer: 1, metric: 'w_grad_max', window: false },
  { layer: 1, metric: 'sat_frac', window: false },
  { layer: 1, metric: 'u0', window: true },
];

test('a rule fires at the first probed step where its condition has held for its patience; a step where it fails starts the count again; each (rule, layer) fires once', () => {
  const w = new RuleWatch([rule('dead-layer', { patience: 30 })], SLOTS, 2);
  const at = (step: number, v: number): [number, Record<number, number>] => [step, { 0: v, 1: 0.9 }];
  const events = feed(w, [at(0, 0.6), at(10, 0.7), at(20, 0.2), at(30, 0.5), at(40, 0.8), at(50, 0.9), at(60, 0.9), at(70, 0.9), at(80, 0.9)]);
  // held from 30 (20 broke the first run of steps), 60 − 30 = 30 ≥ patience: fires at 60, then never again
  assert.deepEqual(events.map((e) => [e.rule, e.step, e.since, e.layer, e.metric, e.value]), [['dead-layer', 60, 30, 1, 'dead_units', Math.fround(0.9)]]);
  assert.equal(events[0].text, 'dead-layer: layer 1 dead_units 0.9 ≥ 0.5 at every probed step since step 30 (patience 30 steps)');
  // the output's dead_units (slot 1 = 0.9 throughout) is not a hidden layer's: dead-layer never read it
  assert.ok(events.every((e) => e.layer === 1));
});

test('a step on which none of a rule\'s figures was measured says nothing: the count goes on', () => {
  const w = new RuleWatch([rule('saturation', { patience: 20 })], SLOTS, 2);
  const events = feed(w, [[0, { 4: 0.7 }], [10, { 0: 0 }], [20, { 4: 0.8 }]]);
  assert.deepEqual(events.map((e) => [e.step, e.since]), [[20, 0]]);
});

test('dead-output reads the output layer only, and fires on units dead for the batch or on samples with every unit off', () => {
  const units = feed(new RuleWatch([rule('dead-output', { patience: 0 })], SLOTS, 2), [[0, { 0: 1, 1: 0.9, 2: 0 }]]);
  assert.deepEqual(units.map((e) => [e.layer, e.metric]), [[2, 'dead_units']]);
  const rows = feed(new RuleWatch([rule('dead-output', { patience: 0 })], SLOTS, 2), [[0, { 0: 1, 1: 0.1, 2: 0.6 }]]);
  assert.deepEqual(rows.map((e) => [e.layer, e.metric]), [[2, 'dead_rows']]);
  assert.deepEqual(feed(new RuleWatch([rule('dead-output', { patience: 0 })], SLOTS, 2), [[0, { 0: 1, 1: 0.49, 2: 0.49 }]]), []);
});

test('saturation reads the output layer\'s wrong-side share, not its sat_frac: saturated where the loss wants it never fires, on the wrong side it does; hidden layers read sat_frac as before; an output without the share is not watched', () => {
  const slots: WatchedSlot[] = [
    { layer: 1, metric: 'sat_frac', window: false },
    { layer: 2, metric: 'sat_frac', window: false },
    { layer: 2, metric: 'sat_wrong_frac', window: false },
  ];
  const steps = (hidden: number, out: number, wrong: number) => Array.from({ length: 31 }, (_, k): [number, Record<number, number>] => [10 * k, { 0: hidden, 1: out, 2: wrong }]);
  const fired = (rows: [number, Record<number, number>][], sl = slots) => feed(new RuleWatch([rule('saturation')], sl, 2), rows).map((e) => [e.layer, e.metric, e.step]);
  // a trained sigmoid output: 95% at the extremes, 1% of it on the wrong side
  assert.deepEqual(fired(steps(0.1, 0.95, 0.01)), []);
  assert.deepEqual(fired(steps(0.1, 0.95, 0.6)), [[2, 'sat_wrong_frac', 200]]);
  assert.deepEqual(fired(steps(0.9, 0.1, 0)), [[1, 'sat_frac', 200]]);
  // a trace without sat_wrong_frac (older, or a writer without the output's gradient): the output is not read through sat_frac
  assert.deepEqual(fired(steps(0.1, 0.95, 0).map(([s, v]) => [s, { 0: v[0], 1: v[1] }]), slots.slice(0, 2)), []);
});

test('vanishing-gradients wants tiny but not zero gradients: exact zeros are dead units\' (dead-layer, dead-output), not vanishing ones', () => {
  const w = new RuleWatch([rule('vanishing-gradients', { patience: 10 })], SLOTS, 2);
  assert.deepEqual(feed(w, [[0, { 3: 0 }], [10, { 3: 0 }], [20, { 3: 0 }]]), []);
  const events = feed(w, [[30, { 3: 1e-9 }], [40, { 3: 5e-8 }]]);
  assert.deepEqual(events.map((e) => [e.step, e.since]), [[40, 30]]);
  assert.match(events[0].text, /layer 1 w_grad_max 5\.00e-8 < 1\.00e-7 \(and not 0\)/);
});

test('non-finite: ±∞ in any figure, or a loss that is NaN or ±∞; a figure that is NaN (measured nothing) is not', () => {
  const w = () => new RuleWatch([rule('non-finite')], SLOTS, 2);
  assert.deepEqual(feed(w(), [[0, { 0: NaN, 3: NaN }]]), []);
  assert.deepEqual(feed(w(), [[5, { 3: Infinity }]]).map((e) => [e.step, e.layer, e.metric]), [[5, 1, 'w_grad_max']]);
  assert.deepEqual(w().loss(7, NaN).map((e) => [e.step, e.layer, e.metric]), [[7, 0, 'loss']]);
  assert.deepEqual(feed(w(), [[0, { 5: Infinity }]]), [], 'windowed figures are not read');
});

test('--stop-when text: all, names, NAME:THRESHOLD:PATIENCE; a rule named twice keeps the last; bad text is one line naming it', () => {
  assert.deepEqual(parseRules('all', RuleAction.stop, '--stop-when').map((r) => r.rule), RULE_NAMES);
  assert.deepEqual(parseRules('dead-output:0.8:400, saturation', RuleAction.warn, '--warn-when'), [
    { rule: 'dead-output', action: 'warn', threshold: 0.8, patience: 400 },
    { rule: 'saturation', action: 'warn', threshold: 0.5, patience: 200 },
  ]);
  // --warn-when all with --stop-when dead-output: that one stops, the others warn
  const c = resolveConfig({ combo: 'relu-relu-relu', warnWhen: 'all', stopWhen: 'dead-output' });
  assert.deepEqual(c.rules.map((r) => `${r.rule}:${r.action}`), RULE_NAMES.map((n) => `${n}:${n === 'dead-output' ? 'stop' : 'warn'}`));
  assert.deepEqual(normalizeRules([rule('saturation'), rule('saturation', { threshold: 0.9 })]).map((r) => r.threshold), [0.9]);
  const bad = (raw: string, re: RegExp) => assert.throws(() => resolveConfig({ combo: 'relu-relu-relu', stopWhen: raw }), (e: unknown) => isProbeError(e) && re.test(e.flagMessage) && !e.message.includes('\n'));
  bad('dead-outptu', /^--stop-when: unknown rule 'dead-outptu' \(did you mean 'dead-output'\?\): use all, or non-finite, exploding-gradients/);
  bad('saturation:x', /^--stop-when: the threshold of 'saturation:x' must be a finite number, got 'x'/);
  bad('saturation:0.5:-1', /the patience of 'saturation:0\.5:-1' must be a whole number of steps ≥ 0, got '-1'/);
  bad('non-finite:3', /the threshold of 'non-finite:3' must be non-finite takes none/);
  bad('saturation:0.5:10:9', /'saturation:0\.5:10:9' is not NAME\[:THRESHOLD\[:PATIENCE\]\]/);
  assert.throws(() => resolveConfig({ combo: 'relu-relu-relu', rules: [{ rule: 'dead' }] }), (e: unknown) => isProbeError(e) && /options\.rules: unknown rule 'dead'/.test(e.message));
});

test('rules are settings: they change the config hash; a config without them hashes and reads as before rules existed', () => {
  const plain = resolveConfig({ combo: 'relu-sigmoid-relu' });
  assert.deepEqual(plain.rules, []);
  assert.notEqual(configHash(resolveConfig({ combo: 'relu-sigmoid-relu', stopWhen: 'all' })), configHash(plain));
  const { rules: _r, ...older } = plain;
  void _r;
  // a trace written before rules: no 'rules' field, the hash of the same JSON without it
  const stored = readStoredConfig({ ...older, configHash: configHash(plain) });
  assert.ok(stored.run, 'still read as a run of probe\'s engine');
});

test('a failing run with --stop-when all stops early: status stopped, the rule, step and values in the trace, exit code 4, a line that says why; the sweep takes it as finished', async () => {
  const out = tmp();
  const args = ['run', 'sigmoid-sigmoid-relu', '--data-dir', FIXTURES, '--backend', 'wasm', '--epochs', '30', '--stop-when', 'all', '--out', out];
  const r = await runCli(args);
  assert.equal(r.status, 4, r.stderr);
  // on the fixtures 9 of the 10 output units are off for every input from step 0
  assert.match(r.stderr, /^stopping step 200: dead-output: layer 3 dead_units 0\.9 ≥ 0\.5 at every probed step since step 0 \(patience 200 steps\)$/m);
  assert.match(r.stdout, /sigmoid-sigmoid-relu seed 1 · stopped at step 200 by rule dead-output: .* · 201 steps/);
  const path = join(out, 'sigmoid-sigmoid-relu_s1.arrow');
  const t = readTrace(path);
  assert.equal(t.status, 'stopped');
  assert.equal(t.truncated, false, 'a finished trace');
  assert.deepEqual({ ...t.progress?.stopped, text: undefined }, { rule: 'dead-output', action: 'stop', step: 200, since: 0, layer: 3, metric: 'dead_units', value: Math.fround(0.9), threshold: 0.5, patience: 200, text: undefined });
  assert.equal(t.progress?.epochsDone, 21, 'the cut-short epoch was evaluated where it stopped');
  const loss = t.columns.probes.indexOf('loss');
  assert.equal(Math.max(...t.columns.step.filter((_, i) => t.columns.probe[i] === loss)), 200, 'no step after the one the rule fired at');
  // the sweep does not redo it
  const plan = planSweep({ combos: ['sigmoid-sigmoid-relu'], seeds: [1], run: { dataDir: FIXTURES, backend: 'wasm', epochs: 30, stopWhen: 'all' }, out });
  assert.deepEqual(plan.map((p) => [p.action, p.why]), [['skip', 'stopped']]);
  const inspect = await runCli(['inspect', path]);
  assert.match(inspect.stdout, /status: STOPPED at step 200 by rule dead-output/);
  const check = await runCli(['inspect', path, '--check']);
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /follows the trace format .* rows checked\n$/);
  const { stopped: _s, ...noEvent } = t.progress!;
  void _s;
  assert.deepEqual(checkTrace({ ...t, progress: noEvent }).violations.map((v) => v.detail), ['status stopped without stopped (the rule event that stopped it)']);
  // the report marks it: counted, and said on the page
  const rep = await runCli(['report', out, '--no-images']);
  assert.equal(rep.status, 0, rep.stderr);
  assert.match(rep.stdout, /probe report · 1 run\(s\), 1 stopped by a rule/);
  assert.match(readFileSync(join(out, 'report', 'index.html'), 'utf8'), /sigmoid-sigmoid-relu_s1 was stopped by a rule \(--stop-when\): dead-output: layer 3 dead_units 0\.9/);
});

test('healthy runs of the tested slice are not stopped by any rule at its defaults (MNIST, 300 steps)', async () => {
  const out = tmp();
  for (const combo of ['relu-relu-relu', 'tanh-tanh-tanh']) {
    const r = await runExperiment({ combo, backend: 'wasm', epochs: 3, trainLimit: 3200, testLimit: 1000, stopWhen: 'all' }, { out });
    assert.equal(r.status, 'complete', `${combo}: ${r.stopped?.text}`);
    assert.deepEqual(r.rules, [], `${combo}: no rule fired`);
    assert.ok(r.epochs.at(-1)!.testAcc > 0.5, `${combo} learns: ${r.epochs.at(-1)!.testAcc}`);
  }
});

test('attachProbes({ rules, onPathology }): a warn rule calls back and goes on, a stop rule ends model.fit and the trace says stopped', async () => {
  const out = tmp();
  const make = () => {
    const m = tf.sequential({ name: 'dead-head', layers: [tf.layers.dense({ inputShape: [4], units: 6, activation: 'tanh' }), tf.layers.dense({ units: 3, activation: 'relu', biasInitializer: tf.initializers.constant({ value: -100 }) })] });
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    return m;
  };
  const x = tf.randomNormal([64, 4], 0, 1, 'float32', 3), y = tf.oneHot(tf.tensor1d(Array.from({ length: 64 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  const seen: RuleEvent[] = [];
  const warned = make();
  const s1 = attachProbes(warned, { out, rules: [{ rule: 'dead-output', action: 'warn', patience: 0 }], onPathology: (e) => seen.push(e) });
  await warned.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0, callbacks: [s1.callback] });
  assert.equal(s1.close(), 'complete');
  assert.deepEqual(seen.map((e) => [e.rule, e.action, e.step, e.layer]), [['dead-output', 'warn', 0, 2]]);
  const stopped = make();
  const s2 = attachProbes(stopped, { out, rules: 'dead-output:0.5:0' });
  await stopped.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0, callbacks: [s2.callback] });
  assert.equal(s2.close(), 'stopped');
  assert.equal(s2.step, 1, 'model.fit ended after the batch the rule fired on');
  assert.equal(readTraceMeta(s2.path).progress?.stopped?.rule, 'dead-output');
  tf.dispose([x, y]);
  warned.dispose();
  stopped.dispose();
});

test('a run with rules, interrupted and resumed, fires them at the steps one run in one go does', async () => {
  const settings = { combo: 'sigmoid-sigmoid-relu', dataDir: FIXTURES, backend: 'wasm', epochs: 25, warnWhen: 'all', stopWhen: 'dead-output:0.5:150' } as const;
  const whole = await runExperiment(settings, { out: tmp() });
  const out = tmp(), ac = new AbortController();
  let steps = 0;
  await assert.rejects(runExperiment(settings, { out, signal: ac.signal, listener: { onStepEnd: () => { if (++steps === 120) ac.abort(); } } }));
  const resumed = await runExperiment(settings, { out });
  assert.equal(resumed.resumedFrom, 120);
  assert.equal(resumed.status, 'stopped');
  assert.deepEqual(readTraceMeta(resumed.path).progress?.rules, readTraceMeta(whole.path).progress?.rules);
  assert.equal(resumed.stopped?.step, 150);
});

test('rules replayed over a run\'s trace give the events the live run gave, up to its stop (the measurement replays real runs\' traces)', async () => {
  // thresholds chosen so that most rules fire on the fixtures (a test of the replay, not of the defaults)
  const live = await runExperiment({
    combo: 'relu-sigmoid-relu', dataDir: FIXTURES, backend: 'wasm', epochs: 30,
    warnWhen: 'saturation:0.0001:20,dead-layer:0.0001:0,vanishing-gradients:1:30,exploding-gradients:0.0001:40,non-finite',
    stopWhen: 'dead-output:0.5:250',
  }, { out: tmp() });
  assert.equal(live.status, 'stopped');
  const t = readTrace(live.path);
  const stored = t.progress?.rules ?? [];
  assert.ok(new Set(stored.map((e) => e.rule)).size >= 4, `several rules fired live: ${stored.map((e) => e.text).join('; ')}`);
  assert.ok(stored.some((e) => e.layer === 1) && stored.some((e) => e.layer === 2), 'on several layers');
  const replayed = replayRules(t, live.config.rules);
  assert.deepEqual(replayed, stored);
  assert.deepEqual(replayed.at(-1), t.progress?.stopped, 'the replay ends at the stop');
  // the same rules, all warning, over the same rows: the same events up to the stop, and more after none
  const warnOnly = replayRules(t, live.config.rules.map((r) => ({ ...r, action: RuleAction.warn })));
  assert.deepEqual(warnOnly.map((e) => ({ ...e, action: 'x' })), stored.map((e) => ({ ...e, action: 'x' })));
});

test('probe run --model --stop-when: an attached model stops as probe\'s MLP does (exit 4, the line, status stopped)', async () => {
  const models = tmp(), out = tmp();
  const m = tf.sequential({ name: 'flat', layers: [tf.layers.dense({ inputShape: [784], units: 8, activation: 'tanh', name: 'hidden' }), tf.layers.dense({ units: 10, activation: 'softmax', name: 'out' })] });
  await saveModelFiles(m, join(models, 'flat'));
  m.dispose();
  // every step's update is larger than 0: the rule fires at the first probed step (a test of the plumbing, not of the default)
  const r = await runCli(['run', '--model', join(models, 'flat', 'model.json'), '--data-dir', FIXTURES, '--train-limit', '64', '--test-limit', '32', '--epochs', '2', '--backend', 'wasm', '--stop-when', 'exploding-gradients:0:0', '--out', out]);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /^stopping step 0: exploding-gradients: layer 1 update_ratio \S+ > 0$/m);
  assert.match(r.stdout, /stopped at step 0 by rule exploding-gradients/);
  const t = readTraceMeta(join(out, 'flat_s1.arrow'));
  assert.equal(t.status, 'stopped');
  assert.equal(t.progress?.stepsDone, 1);
});

test('a figure beyond float32 ends the run as diverged even when a stop rule fires at that step: the rule is listed, the status is the stronger fact', () => {
  // through the recorder itself: on real runs the overflowing figure is NaN (update_ratio), which no rule reads, and the weights' check ends the run first
  const slots = [{ layer: 0, probe: 'loss', metric: 'loss', window: false }, { layer: 1, probe: 'gradients', metric: 'w_grad_norm', window: false }];
  const rec = new TraceRecorder({
    path: join(tmp(), 'x.arrow'), run: 'x', force: false, slots, lock: false,
    rules: { rules: [rule('non-finite')], outputLayer: 1 },
    config: () => ({ source: 'test' }), facts: () => ({ ...processFacts(), combo: 'x', seed: 1, stepsPerEpoch: 10, layers: [] }) as unknown as RunFacts,
  });
  rec.setStepsPerEpoch(10);
  rec.record(0, 1, Float32Array.from([1, 1, Infinity]), [0, 1]);
  rec.stepDone(1, () => null);
  assert.equal(rec.close('complete'), 'diverged');
  assert.equal(rec.stoppedBy, null);
  assert.deepEqual(rec.ruleEvents.map((e) => [e.rule, e.action, e.step, e.metric, e.value]), [['non-finite', 'stop', 0, 'w_grad_norm', null]]);
});
