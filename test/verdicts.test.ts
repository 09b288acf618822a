/**
 * Every verdict path, per hypothesis and per claim, on synthetic traces built to produce it; the
 * --bn last pairing; the one-line diagnosis. Nothing is trained: the traces carry chosen figures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTrace } from '../src/trace/reader.js';
import { digestTrace, type RunDigest } from '../src/read/digest.js';
import { REPORT_NEEDS } from '../src/report/panels.js';
import { groupOf, prevalence, testHypothesis, type ClaimId, type HypothesisResult } from '../src/study/hypotheses.js';
import { pairInterventions } from '../src/study/interventions.js';
import { diagnose } from '../src/study/diagnosis-line.js';
import { clusteredMean, clusteredSpearman } from '../src/read/stats.js';
import { Cause, HYPOTHESES } from '../src/study/study.js';
import { attributionByGroup } from '../src/study/attribution.js';
import { writeSyntheticTrace, type SyntheticRun } from './synthetic.js';
import { tmp } from './helpers.js';

type Fig = (i: number, seed: number) => number;
interface Scenario {
  readonly tAcc: Fig; readonly tM: Fig; readonly tCause: Fig;
  readonly cAcc: Fig; readonly cM: Fig;
  /** control runs (default 3 seeds × 2 combinations) */
  readonly controlSeeds?: readonly number[];
}

const TARGET = ['relu-sigmoid-relu', 'tanh-sigmoid-relu'];
const CONTROL = { H1: ['relu-tanh-relu', 'relu-relu-relu'], H2: ['relu-sigmoid-tanh', 'relu-sigmoid-selu'] } as const;
/** a small spread so that intervals have width: −0.02 … +0.02 */
const j = (i: number, seed: number) => 0.01 * (((i * 3 + seed) % 5) - 2);
const c = (v: number): Fig => (i, s) => v + j(i, s);

function digests(dir: string, runs: readonly SyntheticRun[]): RunDigest[] {
  return runs.map((r) => digestTrace(readTrace(writeSyntheticTrace(dir, { epochs: 1, stepsPerEpoch: 5, ...r })), REPORT_NEEDS));
}

function runScenario(h: 'H1' | 'H2', s: Scenario): HypothesisResult {
  const runs: SyntheticRun[] = [];
  const measure = (m: number, cause: number) => (h === 'H1' ? { deadRows: m, h1Cause: cause } : { sat: m, h2Cause: cause });
  TARGET.forEach((combo, i) => [1, 2, 3].forEach((seed) => runs.push({ combo, seed, acc: s.tAcc(i, seed), ...measure(s.tM(i, seed), s.tCause(i, seed)) })));
  CONTROL[h].forEach((combo, i) => (s.controlSeeds ?? [1, 2, 3]).forEach((seed) => runs.push({ combo, seed, acc: s.cAcc(i, seed), ...measure(s.cM(i, seed), 0.1) })));
  return testHypothesis(HYPOTHESES.find((x) => x.id === h)!, digests(tmp(), runs));
}

const holds = (r: HypothesisResult) => Object.fromEntries(r.claims.map((x) => [x.id, x.holds])) as Record<ClaimId, boolean | null>;

const FAILING = { tAcc: c(0.2), cAcc: (i: number, s: number) => 0.95 + j(i, s) / 10 };

for (const h of ['H1', 'H2'] as const) {
  test(`${h} supported: present, accounts for the errors, specific, dose-response`, () => {
    const r = runScenario(h, { ...FAILING, tM: c(0.85), tCause: c(0.8), cM: c(0.05) });
    assert.deepEqual(holds(r), { A: true, M: true, B: true, C: true }, JSON.stringify(r.claims));
    assert.equal(r.verdict, 'supported');
    assert.equal(r.runs.filter((x) => x.failed).length, 6);
  });

  test(`${h} not supported by A: the measure is low in the failing runs`, () => {
    const r = runScenario(h, { ...FAILING, tM: c(0.2), tCause: c(0.8), cM: c(0.05) });
    assert.equal(holds(r).A, false);
    assert.equal(r.verdict, 'not supported');
    assert.match(r.reason, /claim A has its interval entirely on the wrong side/);
  });

  test(`${h} not supported by M: present, but its cause covers few errors`, () => {
    const r = runScenario(h, { ...FAILING, tM: c(0.85), tCause: c(0.1), cM: c(0.05) });
    assert.deepEqual([holds(r).A, holds(r).M], [true, false]);
    assert.equal(r.verdict, 'not supported');
    assert.match(r.reason, /claim M has/);
  });

  test(`${h} not supported by B: the control has more of it`, () => {
    const r = runScenario(h, { ...FAILING, tM: c(0.7), tCause: c(0.8), cM: c(0.95) });
    assert.deepEqual([holds(r).A, holds(r).B], [true, false]);
    assert.equal(r.verdict, 'not supported');
  });

  test(`${h} not supported by C: more of it goes with higher accuracy`, () => {
    const r = runScenario(h, { tAcc: (i, s) => 0.97 + j(i, s) / 10, tM: c(0.3), tCause: c(0.8), cAcc: (i, s) => 0.93 + j(i, s) / 10, cM: c(0.1) });
    assert.deepEqual(holds(r), { A: null, M: null, B: true, C: false }, JSON.stringify(r.claims));
    assert.equal(r.verdict, 'not supported');
    assert.match(r.reason, /claim C has/);
  });

  test(`${h} inconclusive: no target run fails, so there is nothing to explain`, () => {
    const r = runScenario(h, { tAcc: (i, s) => 0.9 + j(i, s) / 10, tM: c(0.3), tCause: c(0.8), cAcc: (i, s) => 0.97 + j(i, s) / 10, cM: c(0.1) });
    assert.deepEqual(holds(r), { A: null, M: null, B: true, C: true }, JSON.stringify(r.claims));
    assert.equal(r.verdict, 'inconclusive');
    assert.match(r.reason, /A: needs 3 failing target runs, has 0; M: needs 3 failing target runs, has 0; holding: B, C/);
  });

  test(`${h} inconclusive: the share of errors its cause covers straddles the line`, () => {
    const r = runScenario(h, { ...FAILING, tM: c(0.85), tCause: (i, s) => 0.3 + 0.08 * ((i * 3 + s) % 6), cM: c(0.05) });
    assert.equal(holds(r).M, null, JSON.stringify(r.claims));
    assert.equal(r.verdict, 'inconclusive');
    assert.match(r.reason, /M: its interval includes the threshold/);
  });

  test(`${h} inconclusive: target and control hardly differ (B undecided)`, () => {
    const spread: Fig = (i, s) => 0.6 + 0.1 * (((i * 3 + s) % 5) - 2);
    const r = runScenario(h, { ...FAILING, tM: spread, tCause: c(0.8), cM: (i, s) => spread(i, s + 1) - 0.02 });
    assert.equal(holds(r).B, null, JSON.stringify(r.claims));
    assert.notEqual(r.verdict, 'supported');
  });

  test(`${h} inconclusive: measure unrelated to accuracy (C undecided)`, () => {
    const wobble: Fig = (i, s) => 0.3 + 0.1 * (((i * 7 + s * 5) % 5) - 2);
    const r = runScenario(h, { tAcc: (i, s) => 0.95 + 0.01 * ((i + s) % 3), tM: wobble, tCause: c(0.8), cAcc: (i, s) => 0.95 + 0.01 * ((i * 2 + s) % 3), cM: (i, s) => wobble(i + 1, s) });
    assert.equal(holds(r).C, null, JSON.stringify(r.claims));
    assert.equal(r.verdict, 'inconclusive');
  });

  test(`${h} inconclusive: too few control runs for B and C`, () => {
    const r = runScenario(h, { ...FAILING, tM: c(0.85), tCause: c(0.8), cM: c(0.05), controlSeeds: [1] });
    assert.deepEqual([holds(r).B, holds(r).C], [null, null]);
    assert.equal(r.verdict, 'inconclusive');
    assert.match(r.reason, /B: needs 3 runs in the target group and in C[12], has 6 and 2/);
  });
}

test('prevalence: failing runs counted per combination against the controls\' median', () => {
  const dir = tmp();
  const ds = digests(dir, [
    ...[1, 2, 3].map((seed) => ({ combo: 'relu-sigmoid-relu', seed, acc: seed === 3 ? 0.9 : 0.3 })),
    ...[1, 2, 3].map((seed) => ({ combo: 'relu-tanh-relu', seed, acc: 0.94 + 0.01 * seed })),
  ]);
  const p = prevalence(ds);
  assert.equal(p.controlMedian?.toFixed(2), '0.96');
  assert.equal(p.failBelow?.toFixed(2), '0.86');
  assert.deepEqual([p.targetFailing, p.targetRuns, p.controlsFailing, p.controls], [2, 3, 0, 3]);
  assert.deepEqual(p.perCombo.map((x) => [x.combo, x.failing, x.runs]), [['relu-sigmoid-relu', 2, 3], ['relu-tanh-relu', 0, 3]]);
  assert.ok(p.share && Math.abs(p.share.estimate - 2 / 3) < 1e-12);
});

test('two-stage bootstrap: combinations that differ widen the interval that runs alone would give', () => {
  const items = [0.1, 0.1, 0.1, 0.9, 0.9, 0.9].map((x, k) => ({ cluster: k < 3 ? 'a' : 'b', x }));
  // runs alone: each run its own cluster
  const two = clusteredMean(items), flat = clusteredMean(items.map((i, k) => ({ cluster: String(k), x: i.x })));
  assert.equal(two.estimate, flat.estimate);
  assert.ok(two.lo <= 0.1 + 1e-12 && two.hi >= 0.9 - 1e-12, JSON.stringify(two));
  assert.ok(flat.lo > 0.15 && flat.hi < 0.85, JSON.stringify(flat));
  assert.deepEqual(clusteredMean(items), two, 'seeded: the same every time');
  // stratified correlation: both strata in every resample
  const strat = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9].map((x, k) => ({ cluster: `c${k % 2}${k < 3 ? 't' : 'c'}`, x, y: 1 - x, stratum: k < 3 ? 't' : 'c' }));
  const rho = clusteredSpearman(strat);
  assert.equal(rho.estimate, -1);
  assert.ok(rho.hi < 0, JSON.stringify(rho));
});

function pairs(dir: string, bnLast: { acc: number; h1: number }): RunDigest[] {
  const runs: SyntheticRun[] = [];
  for (const combo of TARGET) for (const seed of [1, 2, 3]) {
    runs.push({ combo, seed, acc: 0.3 + 0.01 * seed, deadRows: 0.8 + 0.01 * seed, sat: 0.4, h1Cause: 0.9 });
    runs.push({ combo, seed, bn: 'last', acc: bnLast.acc + 0.01 * seed, deadRows: bnLast.h1 + 0.01 * seed, sat: 0.4, h1Cause: 0.2 });
  }
  for (const seed of [1, 2, 3]) runs.push({ combo: 'relu-tanh-relu', seed, acc: 0.96, deadRows: 0.1 }, { combo: 'relu-tanh-relu', seed, bn: 'last', acc: 0.965, deadRows: 0.12 });
  return digests(dir, runs);
}

test('--bn last pairs: support when the intervention removes the mechanism and the failure', () => {
  const [iv] = pairInterventions(pairs(tmp(), { acc: 0.9, h1: 0.3 }));
  assert.equal(iv.pairs.length, 9);
  const acc = iv.changes.find((x) => x.group === 'target' && x.figure === 'accuracy')!;
  assert.ok(acc.change && Math.abs(acc.change.estimate - 0.6) < 1e-6 && acc.change.lo > 0, JSON.stringify(acc));
  const m = iv.changes.find((x) => x.group === 'target' && x.figure === 'H1 measure')!;
  assert.ok(m.change && Math.abs(m.change.estimate + 0.5) < 1e-6 && m.change.hi < 0);
  assert.deepEqual(iv.readings.map((r) => [r.hypothesis, r.reading]), [['H1', 'supports'], ['H2', 'undecided']]);
  assert.ok(iv.changes.some((x) => x.group === 'C1' && x.figure === 'accuracy' && x.pairs === 3));
});

test('--bn all pairs are an intervention of their own, listed after bn last, each with its own pairs and reading', () => {
  const dir = tmp();
  const runs: SyntheticRun[] = [];
  for (const combo of TARGET) for (const seed of [1, 2, 3]) {
    runs.push({ combo, seed, acc: 0.3 + 0.01 * seed, deadRows: 0.8 + 0.01 * seed, sat: 0.4, h1Cause: 0.9 });
    // bn on every layer: accuracy back, the dead output gone; bn last: nothing changes
    runs.push({ combo, seed, bn: 'all', acc: 0.95 + 0.001 * seed, deadRows: 0.1 + 0.01 * seed, sat: 0.4, h1Cause: 0.1 });
    if (seed < 3) runs.push({ combo, seed, bn: 'last', acc: 0.3 + 0.01 * seed, deadRows: 0.8 + 0.01 * seed, sat: 0.4, h1Cause: 0.9 });
  }
  const ivs = pairInterventions(digests(dir, runs));
  assert.deepEqual(ivs.map((iv) => [iv.intervention.bn, iv.pairs.length]), [['last', 4], ['all', 6]]);
  const all = ivs[1];
  assert.ok(all.pairs.every((p) => p.with.includes('_bn-all_') && !p.without.includes('_bn-')), JSON.stringify(all.pairs));
  const acc = all.changes.find((x) => x.group === 'target' && x.figure === 'accuracy')!;
  // paired differences, by hand: (0.95 + 0.001·s) − (0.3 + 0.01·s) over s = 1, 2, 3, twice
  const want = [1, 2, 3].reduce((t, s) => t + (Math.fround(0.95 + 0.001 * s) - Math.fround(0.3 + 0.01 * s)), 0) / 3;
  assert.ok(acc.change && Math.abs(acc.change.estimate - want) < 1e-6 && acc.change.lo > 0, JSON.stringify(acc));
  assert.equal(all.readings.find((r) => r.hypothesis === 'H1')!.reading, 'supports');
  assert.match(all.readings.find((r) => r.hypothesis === 'H1')!.why, /^bn all raised accuracy/);
  assert.equal(ivs[0].readings.find((r) => r.hypothesis === 'H1')!.reading, 'undecided');
});

test('output interventions pair with the study setting by combination and seed; removing H1\'s mechanism and raising accuracy supports H1', () => {
  const dir = tmp();
  const runs: SyntheticRun[] = [];
  for (const combo of TARGET) for (const seed of [1, 2, 3]) {
    runs.push({ combo, seed, acc: 0.3 + 0.01 * seed, deadRows: 0.8 + 0.01 * seed, sat: 0.4, h1Cause: 0.9 });
    // no output activation: accuracy back, the sigmoid's saturation as it was
    runs.push({ combo, seed, intervention: 'out-linear', acc: 0.9 + 0.001 * seed, sat: 0.4 });
    // a leaky output that does not help
    runs.push({ combo, seed, intervention: 'out-leaky', acc: 0.3 + 0.01 * seed + [0.02, -0.02, 0][seed - 1], sat: 0.4 });
    // raised output biases: the output no longer off, accuracy back
    runs.push({ combo, seed, intervention: 'out-bias', acc: 0.9 + 0.002 * seed, deadRows: 0.1 + 0.01 * seed, sat: 0.4, h1Cause: 0.05 });
  }
  // a bn run is not the baseline of an output intervention, nor paired with one
  runs.push({ combo: TARGET[0], seed: 1, bn: 'last', intervention: 'out-linear', acc: 0.95, sat: 0.4 });
  const ivs = pairInterventions(digests(dir, runs));
  assert.deepEqual(ivs.map((iv) => [iv.intervention.output, iv.pairs.length]), [['out-linear', TARGET.length * 3], ['out-leaky', TARGET.length * 3], ['out-bias', TARGET.length * 3]]);
  for (const iv of ivs) {
    assert.ok(iv.pairs.every((p) => p.group === 'target' && p.with.includes(`_${iv.intervention.output}_`) && !/_out-|_bn-/.test(p.without)), JSON.stringify(iv.pairs));
  }
  const reading = (iv: (typeof ivs)[number], h: string) => iv.readings.find((r) => r.hypothesis === h)!;
  const [linear, leaky, bias] = ivs;
  // H1's measure does not exist without an output that can be off: no change is computed for it
  assert.ok(!linear.changes.some((c) => c.figure === 'H1 measure'));
  assert.equal(reading(linear, 'H1').reading, 'supports');
  assert.match(reading(linear, 'H1').why, /removed H1's mechanism/);
  assert.equal(reading(leaky, 'H1').reading, 'undecided');
  const h2 = linear.changes.find((c) => c.group === 'target' && c.figure === 'H2 measure')!;
  assert.ok(h2.change && Math.abs(h2.change.estimate) < 1e-6, JSON.stringify(h2));
  // out-bias keeps the ReLU: the ordinary rule, measure down and accuracy up
  const m = bias.changes.find((c) => c.group === 'target' && c.figure === 'H1 measure')!;
  assert.ok(m.change && m.change.hi < 0, JSON.stringify(m));
  assert.equal(reading(bias, 'H1').reading, 'supports');
  assert.match(reading(bias, 'H1').why, /lowered the H1 measure/);
});

test('--bn last pairs: against when accuracy rises while the measure rises too', () => {
  const [iv] = pairInterventions(pairs(tmp(), { acc: 0.9, h1: 0.95 }));
  assert.equal(iv.readings.find((r) => r.hypothesis === 'H1')!.reading, 'against');
});

test('diagnosis line: mechanism, share of errors, onset and dead units; or no pathology with the thresholds', () => {
  const dir = tmp();
  const [sick, well] = digests(dir, [
    { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.8, h1Cause: 0.9, epochs: 2, deathSteps: [5, 5, 10, null, null, null, null, null, null, null] },
    { combo: 'relu-tanh-relu', seed: 1, acc: 0.96, deadRows: 0.1, h1Cause: 0.3, h2Cause: 0.01, deathSteps: new Array<null>(10).fill(null) },
  ].map((r) => ({ ...r, stepsPerEpoch: 20 })));
  const d = diagnose(sick);
  assert.equal(d.text, "relu-sigmoid-relu_s1: 70.0% of test inputs misclassified; layer 3 (relu, output): the true class's output unit is off (z ≤ 0) for 90.0% of the errors (H1's mechanism), since epoch 1 (step 20); 3/10 units of layer 3 dead since step 5");
  assert.deepEqual({ cause: d.mechanism?.cause, layer: d.mechanism?.layer, since: d.mechanism?.sinceEpoch }, { cause: 'true_unit_off', layer: 3, since: 1 });
  assert.deepEqual(d.deadUnits, [{ layer: 3, dead: 3, units: 10, firstStep: 5 }]);
  const w = diagnose(well);
  assert.equal(w.mechanism, null);
  assert.equal(w.pathology, false);
  assert.match(w.text, /relu-tanh-relu_s1: 4\.0% of test inputs misclassified; no pathology found \(no cause covers more than 50\.0% of the errors: true_unit_off 30\.0%, prev_saturated 1\.0%, grad_vanished 0\.0%; no ReLU layer with ≥ 50\.0% of its units dead\)/);
  const old = diagnose(digests(dir, [{ combo: 'relu-relu-relu', seed: 9, acc: 0.9, deadRows: 0.1, noDiagnosis: true }])[0]);
  assert.match(old.text, /no diagnosis — the trace has no evaluation diagnosis/);
});

test('error attribution: a cause that cannot apply to a group is n/a, not 0 (true_unit_off without a ReLU output)', () => {
  // the synthetic writer puts a true_unit_off share into every run, as traces written before n/a did
  const ds = digests(tmp(), [
    ...TARGET.flatMap((combo) => [1, 2, 3].map((seed) => ({ combo, seed, acc: 0.3, h1Cause: 0.8 }))),
    ...CONTROL.H2.flatMap((combo) => [1, 2, 3].map((seed) => ({ combo, seed, acc: 0.95, h1Cause: 0.4 }))),
  ]);
  const groups = attributionByGroup(ds);
  const c2 = groups.find((g) => g.group === 'C2')!;
  const off = c2.causes.find((x) => x.cause === Cause.trueUnitOff)!;
  assert.equal(off.runs, 0);
  assert.ok(Number.isNaN(off.mean) && off.interval === null);
  assert.ok(c2.causes.find((x) => x.cause === Cause.prevSaturated)!.runs === 6, 'prev_saturated applies to the sigmoid before tanh/selu');
  const failing = groups.find((g) => g.group === 'target, failing')!;
  assert.ok(Math.abs(failing.causes.find((x) => x.cause === Cause.trueUnitOff)!.mean - 0.8) < 1e-6, 'float32 in the trace');
});

test('diagnosis line: a cause that cannot apply reads n/a, not a share', () => {
  const [c2] = digests(tmp(), [{ combo: 'relu-sigmoid-tanh', seed: 1, acc: 0.9, h1Cause: 0.3 }]);
  const d = diagnose(c2);
  assert.match(d.text, /true_unit_off n\/a/);
  assert.doesNotMatch(d.text, /true_unit_off \d/);
});

test('study groups are the listed activations: an activation outside the lists (gelu, swish) joins no group', () => {
  const ACTS = ['relu', 'tanh', 'sigmoid', 'selu'];
  // the grid's 16 (L−1, L) pairs go where the study says
  const want: Record<string, string> = { 'sigmoid,relu': 'target', 'tanh,relu': 'C1', 'relu,relu': 'C1', 'selu,relu': 'C1', 'sigmoid,tanh': 'C2', 'sigmoid,sigmoid': 'C2', 'sigmoid,selu': 'C2' };
  for (const a of ACTS) for (const b of ACTS) assert.equal(groupOf(['relu', a, b]), want[`${a},${b}`] ?? 'other', `${a}, ${b}`);
  assert.equal(groupOf(['relu', 'gelu', 'relu']), 'other');
  assert.equal(groupOf(['relu', 'sigmoid', 'swish']), 'other');
  assert.equal(groupOf(['relu']), 'other');
});
