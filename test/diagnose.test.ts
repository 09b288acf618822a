/**
 * The generic diagnosis (read/diagnose.ts) on traces written with chosen figures: each rule on
 * both sides of its threshold, "since" where the figures were made to change, the verdict by
 * chance level, and what it says about traces without a labelled evaluation. Nothing is trained.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTrace } from '../src/trace/reader.js';
import { DIAGNOSIS_PROBE, LayerErrorShare } from '../src/trace/metrics.js';
import { Diag } from '../src/study/study.js';
import { diagnoseTrace, type RunDiagnosis } from '../src/read/diagnose.js';
import { writeBuilt, type Built, type Row } from './built-trace.js';
import { tmp } from './helpers.js';

const diagnose = (dir: string, name: string, b: Built): RunDiagnosis => diagnoseTrace(readTrace(writeBuilt(dir, name, b)));
const kinds = (d: RunDiagnosis) => d.findings.map((f) => `${f.kind}@${f.layer}`);

/** A healthy three-layer network: loss and gradients falling together, nothing saturated or dead. */
function healthy(s: number, steps: number): Row[] {
  const decay = Math.exp(-3 * s / steps);
  return [
    [0, 'loss', 'loss', 2.3 * decay], [0, 'loss', 'accuracy', 0.9],
    ...[1, 2, 3].flatMap((l): Row[] => [
      [l, 'gradients', 'w_grad_norm', 0.1 * decay], [l, 'gradients', 'w_grad_max', 0.01 * decay],
      [l, 'gradients', 'z_grad_norm', 0.05 * decay], [l, 'gradients', 'z_grad_max', 0.01 * decay],
    ]),
    [2, 'saturation', 'sat_frac', 0.1],
  ];
}

test('diagnosis: a healthy run has no finding, says what it checked and that it learns', () => {
  const dir = tmp();
  const d = diagnose(dir, 'ok', { acts: ['relu', 'sigmoid', 'relu'], widths: [64, 32, 10], steps: 400, rows: (s) => healthy(s, 400), testAcc: 0.95, deaths: { 1: Array(64).fill(null), 3: Array(10).fill(null) } });
  assert.deepEqual(kinds(d), []);
  assert.equal(d.verdict.failing, false);
  assert.match(d.headline, /^ok: learning: test accuracy 95\.0%, above chance \(10 classes: 10\.0%; near chance is at most 20\.0%\)/);
  assert.match(d.lines[0], /^no pathology found by the rules/);
});

test('diagnosis: a layer with at least half its units dead is a finding since half were dead; fewer are mentioned, not flagged', () => {
  const dir = tmp();
  const deaths = Array.from({ length: 64 }, (_, u) => (u < 61 ? 0 : null));
  const d = diagnose(dir, 'dead', { acts: ['tanh', 'relu', 'relu'], widths: [32, 64, 10], steps: 400, rows: (s) => healthy(s, 400), testAcc: 0.95, deaths: { 2: deaths, 3: Array(10).fill(null) } });
  assert.deepEqual(kinds(d), ['dead@2']);
  assert.match(d.findings[0].text, /^layer 2 \(relu\): 61 of 64 units dead for every input since step 0$/);
  // 32 of 64 is half: a finding, since the 32nd death; 31 of 64 is not
  const half = diagnose(dir, 'half', { acts: ['tanh', 'relu', 'relu'], widths: [32, 64, 10], steps: 400, rows: (s) => healthy(s, 400), testAcc: 0.95, deaths: { 2: Array.from({ length: 64 }, (_, u) => (u < 32 ? 10 * u : null)) } });
  assert.deepEqual(kinds(half), ['dead@2']);
  assert.equal(half.findings[0].since, 310);
  assert.match(half.findings[0].text, /32 of 64 units dead for every input since step 310$/);
  const few = diagnose(dir, 'few', { acts: ['tanh', 'relu', 'relu'], widths: [32, 64, 10], steps: 400, rows: (s) => healthy(s, 400), testAcc: 0.95, deaths: { 2: Array.from({ length: 64 }, (_, u) => (u < 31 ? 10 * u : null)) } });
  assert.deepEqual(kinds(few), []);
  assert.match(few.lines[0], /31 of 64 units of layer 2 dead \(the first at step 0\)/);
});

test('diagnosis: saturation above half at the end is a finding, since the span from which it stayed above', () => {
  const dir = tmp();
  // sat_frac 0.1 until step 200, 0.8 after: spans of 8 steps, so since = 200
  const rows = (s: number): Row[] => [...healthy(s, 400).filter((r) => r[2] !== 'sat_frac'), [2, 'saturation', 'sat_frac', s < 200 ? 0.1 : 0.8]];
  const d = diagnose(dir, 'sat', { acts: ['relu', 'sigmoid', 'relu'], widths: [64, 32, 10], steps: 400, rows, testAcc: 0.95 });
  assert.deepEqual(kinds(d), ['saturated@2']);
  assert.equal(d.findings[0].since, 200);
  assert.match(d.findings[0].text, /^layer 2 \(sigmoid\): 80\.0% of its outputs at the extremes at the end, most of them since step 200$/);
  // exactly half is not "most"
  const edge = diagnose(dir, 'edge', { acts: ['relu', 'sigmoid', 'relu'], widths: [64, 32, 10], steps: 400, rows: (s) => [...healthy(s, 400).filter((r) => r[2] !== 'sat_frac'), [2, 'saturation', 'sat_frac', 0.5]], testAcc: 0.95 });
  assert.deepEqual(kinds(edge), []);
});

test('diagnosis: an output layer saturated on the side its loss asks for is no finding; on the wrong side it is, said as such; without the wrong-side rows it is not checked, never judged by sat_frac', () => {
  const dir = tmp();
  // a sigmoid output at its extremes almost everywhere (a trained classifier), hidden layer 2 unsaturated
  const out = (wrong: number | null) => (s: number): Row[] => [
    ...healthy(s, 400), [3, 'saturation', 'sat_frac', 0.95],
    ...(wrong === null ? [] : [[3, 'saturation', 'sat_wrong_frac', s < 200 ? 0.01 : wrong] as Row]),
  ];
  const b = (wrong: number | null): Built => ({ acts: ['relu', 'sigmoid', 'sigmoid'], widths: [64, 32, 10], steps: 400, rows: out(wrong), testAcc: 0.95 });
  const right = diagnose(dir, 'right', b(0.01));
  assert.deepEqual(kinds(right), []);
  assert.equal(right.layers[2].saturated, Math.fround(0.95), 'the plain share is kept as information');
  assert.equal(right.layers[2].satWrong, Math.fround(0.01));
  assert.ok(!right.lines.some((l) => /output.*at the extremes|saturated/.test(l) && !/^no pathology/.test(l)), right.lines.join('\n'));
  const wrong = diagnose(dir, 'wrong', b(0.7));
  assert.deepEqual(kinds(wrong), ['saturated@3']);
  assert.equal(wrong.findings[0].since, 200);
  assert.match(wrong.findings[0].text, /^layer 3 \(sigmoid, output\): 70\.0% of its outputs saturated on the wrong side at the end \(at an extreme the loss pushes them away from/);
  const none = diagnose(dir, 'none', b(null));
  assert.deepEqual(kinds(none), []);
  assert.ok(none.notChecked.some((n) => /^wrong-side saturation of the output layer 3 \(no measured sat_wrong_frac/.test(n)), none.notChecked.join('; '));
});

test('diagnosis: exactly-zero weight gradients (a dead output ReLU) are one finding per layer, counted and dated, never vanishing', () => {
  const dir = tmp();
  // from step 120 every gradient is exactly 0, except one step in 80
  const rows = (s: number): Row[] => {
    const off = s >= 120 && s % 80 !== 7;
    return [[0, 'loss', 'loss', 2.3], [0, 'loss', 'accuracy', 0.1],
      ...[1, 2, 3].flatMap((l): Row[] => [[l, 'gradients', 'w_grad_max', off ? 0 : 0.01], [l, 'gradients', 'w_grad_norm', off ? 0 : 0.1], [l, 'gradients', 'z_grad_norm', off ? 0 : 0.05], [l, 'gradients', 'z_grad_max', off ? 0 : 0.01]])];
  };
  const d = diagnose(dir, 'zero', { acts: ['sigmoid', 'sigmoid', 'relu'], widths: [64, 32, 10], steps: 1000, rows, testAcc: 0.098, deaths: { 3: Array(10).fill(120) } });
  assert.deepEqual(kinds(d), ['dead@3', 'zero-gradient@3', 'zero-gradient@2', 'zero-gradient@1']);
  const z = d.findings[1];
  assert.equal(z.since, 120);
  assert.match(z.text, /^layer 3 \(relu, output\): its weight gradient is exactly 0 at 869 of 1,000 probed steps \(99\.0% of those at the end\), since step 120 — it does not learn$/);
  assert.equal(d.verdict.failing, true);
  assert.match(d.headline, /failing: test accuracy 9\.8% is at or near chance \(10 classes: at most 1\/10 \+ 10 points = 20\.0%\)/);
});

test('diagnosis: a gradient that falls with the loss is not vanishing; one that falls ten times more is, since the span it crossed', () => {
  const dir = tmp();
  // layer 1's ‖dL/dz‖ falls 100× by step 300 while the loss stays; layers 2–3 fall with the loss
  const rows = (s: number): Row[] => healthy(s, 400).map((r) => (r[0] === 1 && r[2] === 'z_grad_norm' ? [1, 'gradients', 'z_grad_norm', 0.05 * Math.exp(-3 * s / 400) * (s < 300 ? 1 : 0.01)] as Row : r));
  const d = diagnose(dir, 'van', { acts: ['sigmoid', 'sigmoid', 'relu'], widths: [64, 32, 10], steps: 400, rows, testAcc: 0.5 });
  assert.deepEqual(kinds(d), ['vanishing@1']);
  // spans of 8 steps: the one holding step 300 (296–303) is half before the fall, so the first wholly after it starts at 304
  assert.equal(d.findings[0].since, 304);
  assert.ok(d.layers[1].gradient!.endRatio / d.layers[1].gradient!.startRatio > 0.5, 'layer 2 falls with the loss');
});

test('diagnosis: a gradient that grows tenfold is exploding', () => {
  const dir = tmp();
  const rows = (s: number): Row[] => healthy(s, 400).map((r) => (r[0] === 2 && r[2] === 'z_grad_norm' ? [2, 'gradients', 'z_grad_norm', 0.05 * (1 + 20 * s / 400)] as Row : r));
  const d = diagnose(dir, 'exp', { acts: ['relu', 'relu', 'relu'], widths: [64, 32, 10], steps: 400, rows, testAcc: 0.9 });
  assert.deepEqual(kinds(d), ['exploding@2']);
  // ×9 at the end is not
  const mild = diagnose(dir, 'mild', { acts: ['relu', 'relu', 'relu'], widths: [64, 32, 10], steps: 400, rows: (s) => healthy(s, 400).map((r) => (r[0] === 2 && r[2] === 'z_grad_norm' ? [2, 'gradients', 'z_grad_norm', 0.05 * (1 + 8 * s / 400)] as Row : r)), testAcc: 0.9 });
  assert.deepEqual(kinds(mild), []);
});

test('diagnosis: values that are not finite are a finding from the first; a layer all NaN at a step (not run through) is not', () => {
  const dir = tmp();
  const inf = diagnose(dir, 'inf', { acts: ['relu', 'relu', 'relu'], widths: [64, 32, 10], steps: 400, rows: (s) => healthy(s, 400).map((r) => (s >= 250 && r[0] === 2 && r[2] === 'z_grad_norm' ? [2, 'gradients', 'z_grad_norm', Infinity] as Row : r)), testAcc: 0.9 });
  assert.deepEqual(kinds(inf).filter((k) => k.startsWith('non-finite')), ['non-finite@2']);
  assert.equal(inf.findings.find((f) => f.kind === 'non-finite')!.since, 250);
  const skipped = diagnose(dir, 'skipped', { acts: ['relu', 'relu', 'relu'], widths: [64, 32, 10], steps: 400, rows: (s) => healthy(s, 400).map((r) => (s % 7 === 0 && r[0] === 2 ? [2, r[1], r[2], NaN] as Row : r)), testAcc: 0.9, engine: 'attach' });
  assert.deepEqual(kinds(skipped), []);
  const div = diagnose(dir, 'div', { acts: ['relu', 'relu', 'relu'], widths: [64, 32, 10], steps: 400, rows: (s) => healthy(s, 400), testAcc: 0.9, diverged: { step: 399, reason: 'loss NaN' } });
  assert.equal(div.verdict.failing, true);
  assert.match(div.headline, /failing: it diverged at step 399 \(loss NaN\)/);
});

test('diagnosis: chance is 1/classes + 10 points, from the test set, else the training batches (said so)', () => {
  const dir = tmp();
  const at = (acc: number, testAcc?: number) => diagnose(dir, `c${acc}-${testAcc}`, { acts: ['relu', 'relu', 'relu'], widths: [64, 32, 10], steps: 100, rows: (s) => healthy(s, 100).map((r) => (r[2] === 'accuracy' ? [0, 'loss', 'accuracy', acc] as Row : r)), ...(testAcc === undefined ? {} : { testAcc }) });
  assert.equal(at(0.9, 0.2).verdict.failing, true, '20% is at most 1/10 + 10 points');
  assert.equal(at(0.9, 0.2001).verdict.failing, false);
  const train = at(0.15);
  assert.equal(train.verdict.failing, true);
  assert.equal(train.verdict.source, 'train batches');
  assert.match(train.headline, /accuracy on the training batches at the end 15\.0% \(no test evaluation\) is at or near chance/);
});

test('diagnosis: shares of errors per finding from the labelled evaluation; "older probe" only for own runs that evaluated without them', () => {
  const dir = tmp();
  const base: Built = { acts: ['tanh', 'relu', 'relu'], widths: [32, 64, 10], steps: 400, rows: (s) => healthy(s, 400), testAcc: 0.3, deaths: { 2: Array.from({ length: 64 }, (_, u) => (u < 40 ? 0 : null)) } };
  const labelled = diagnose(dir, 'lab', { ...base, diag: [[0, DIAGNOSIS_PROBE, Diag.errors, 0.7], [2, DIAGNOSIS_PROBE, LayerErrorShare.mostOff, 0.93], [2, DIAGNOSIS_PROBE, LayerErrorShare.gradZero, 0.1]] });
  assert.equal(labelled.findings[0].errorShare, Math.fround(0.93));
  assert.match(labelled.findings[0].text, /most of its units are off for 93\.0% of the misclassified test inputs$/);
  assert.equal(labelled.errors.rate, Math.fround(0.7));
  const attached = diagnose(dir, 'att', { ...base, engine: 'attach' });
  assert.match(attached.lines.join('\n'), /no labelled evaluation in this trace/);
  assert.doesNotMatch(attached.lines.join('\n'), /older probe/);
  const older = diagnose(dir, 'old', base);
  assert.match(older.lines.join('\n'), /written by an older probe/);
  const notYet = diagnose(dir, 'notyet', { ...base, testAcc: undefined });
  assert.match(notYet.lines.join('\n'), /stopped before its first evaluation/);
});

test('diagnosis: findings come in order of onset; a run shorter than the study says so', () => {
  const dir = tmp();
  const rows = (s: number): Row[] => [...healthy(s, 400).filter((r) => r[2] !== 'sat_frac'), [2, 'saturation', 'sat_frac', s < 100 ? 0.1 : 0.9]];
  const d = diagnose(dir, 'order', { acts: ['relu', 'sigmoid', 'relu'], widths: [64, 32, 10], steps: 400, rows, testAcc: 0.4, deaths: { 1: Array.from({ length: 64 }, (_, u) => (u < 50 ? 300 : null)) }, epochs: 1, trainSize: 3200 });
  assert.deepEqual(kinds(d), ['saturated@2', 'dead@1']);
  assert.match(d.lines.at(-1)!, /^a short run: 3,200 training samples \(1 epoch of 3,200\), the study's schedule is 600,000 \(10 of 60,000\)$/);
  const attached = diagnose(dir, 'order-att', { acts: ['relu', 'sigmoid', 'relu'], widths: [64, 32, 10], steps: 400, rows, testAcc: 0.4, engine: 'attach', epochs: 1, trainSize: 3200 });
  assert.equal(attached.short, null, "an attached model is not held to the study's schedule");
});
