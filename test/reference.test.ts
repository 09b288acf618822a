/**
 * `probe report --reference`: the runs' final accuracy per combination beside published figures.
 * Our side is checked against plain loops over the runs' accuracies; the rules (within the spread,
 * Spearman ρ) against figures worked out by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readReference, reproduce } from '../src/study/reference.js';
import { readTrace } from '../src/trace/reader.js';
import { digestTrace, NO_CHARTS } from '../src/read/digest.js';
import { writeSyntheticTrace, type SyntheticRun } from './synthetic.js';
import { probeCli as probe, ROOT, tmp } from './helpers.js';

const WRITEUP = join(ROOT, 'fixtures', 'reference', 'study-writeup.csv');

/** Runs with chosen final accuracies: the four target combinations and two controls, 3 seeds each. */
const ACC: Record<string, readonly number[]> = {
  'relu-sigmoid-relu': [0.3, 0.35, 0.9],
  'tanh-sigmoid-relu': [0.5, 0.52, 0.55],
  'sigmoid-sigmoid-relu': [0.12, 0.15, 0.2],
  'selu-sigmoid-relu': [0.7, 0.8, 0.85],
  'relu-tanh-relu': [0.95, 0.96, 0.97],
  'relu-sigmoid-tanh': [0.94, 0.95, 0.96],
};

function study(dir: string): string {
  for (const [combo, accs] of Object.entries(ACC)) accs.forEach((acc, i) => {
    const run: SyntheticRun = { combo, seed: i + 1, acc, epochs: 1, stepsPerEpoch: 5 };
    writeSyntheticTrace(dir, run);
  });
  return dir;
}

const mean = (xs: readonly number[]) => { let s = 0; for (const x of xs) s += x; return s / xs.length; };
const sdOf = (xs: readonly number[]) => { const m = mean(xs); let s = 0; for (const x of xs) s += (x - m) ** 2; return Math.sqrt(s / (xs.length - 1)); };

test('the write-up\'s four figures: read as percentages, set beside the runs, none judged (no spread given), ρ over the four', () => {
  const dir = study(tmp());
  const ref = readReference(WRITEUP);
  assert.equal(ref.unit, 'percent');
  assert.deepEqual(ref.rows.map((r) => [r.combo, Number(r.mean.toFixed(6)), r.sd]), [['relu-sigmoid-relu', 0.3491, null], ['tanh-sigmoid-relu', 0.5157, null], ['sigmoid-sigmoid-relu', 0.1603, null], ['selu-sigmoid-relu', 0.7516, null]]);
  const digests = Object.keys(ACC).flatMap((combo) => ACC[combo].map((_, i) => digestTrace(readTrace(join(dir, `${combo}_s${i + 1}.arrow`)), NO_CHARTS)));
  const r = reproduce(ref, digests);
  // the report's failure line: the controls' median minus 10 points
  const controls = [...ACC['relu-tanh-relu'], ...ACC['relu-sigmoid-tanh']].map((a) => Math.fround(a)).sort((a, b) => a - b);
  const failBelow = (controls[2] + controls[3]) / 2 - 0.1;
  for (const row of r.rows) {
    const accs = ACC[row.combo].map((a) => Math.fround(a));
    assert.equal(row.runs, 3);
    assert.ok(Math.abs(row.mean! - mean(accs)) < 1e-9, row.combo);
    assert.ok(Math.abs(row.sd! - sdOf(accs)) < 1e-9, row.combo);
    assert.equal(row.failing, accs.filter((a) => a < failBelow).length / 3, row.combo);
    assert.equal(row.within, null, 'no sd and no per-seed values: not judged');
  }
  assert.deepEqual([r.within, r.judged], [0, 0]);
  // our means rank 0.517, 0.523, 0.157, 0.783; the published 0.349, 0.516, 0.160, 0.752: ranks 2,3,1,4 vs 2,3,1,4
  assert.equal(r.rhoN, 4);
  assert.equal(r.rho!.estimate, 1);
});

test('a reference with sd, per-seed values and a bn variant: within-spread counted by the fixed rule, ρ by hand', () => {
  const dir = study(tmp());
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.97, bn: 'last', epochs: 1, stepsPerEpoch: 5 });
  const file = join(tmp(), 'ref.csv');
  writeFileSync(file, [
    'Combination,Mean,SD,bn,seed1,seed2',
    'relu-sigmoid-relu,0.50,0.05,,0.45,0.55', // ours 0.517 in [0.45, 0.55]: within
    'tanh-sigmoid-relu,0.60,0.05,,,', // ours 0.523 not in [0.55, 0.65]: outside
    'sigmoid-sigmoid-relu,0.10,,,0.10,0.20', // no sd: the seeds' range [0.10, 0.20]; ours 0.157: within
    'selu-sigmoid-relu,0.90,,,,', // no spread: not judged
    'relu-sigmoid-relu,0.96,0.02,last,,', // the bn-last run alone: 0.97 in [0.94, 0.98]
    'relu-relu-relu,0.97,0.01,,,', // no run here: not judged
  ].join('\n'));
  const ref = readReference(file);
  assert.equal(ref.unit, 'fraction');
  const digests = [...Object.keys(ACC).flatMap((combo) => ACC[combo].map((_, i) => join(dir, `${combo}_s${i + 1}.arrow`))), join(dir, 'relu-sigmoid-relu_bn-last_s1.arrow')]
    .map((p) => digestTrace(readTrace(p), NO_CHARTS));
  const r = reproduce(ref, digests);
  assert.deepEqual(r.rows.map((x) => x.within), [true, false, true, null, true, null]);
  assert.deepEqual(r.rows.map((x) => x.runs), [3, 3, 3, 3, 1, 0]);
  assert.equal(r.rows[4].variant, 'mnist · bn-last');
  assert.deepEqual([r.within, r.judged], [3, 4]);
  // ρ over the 5 rows with runs: ours (0.517, 0.523, 0.157, 0.783, 0.97) vs (0.50, 0.60, 0.10, 0.90, 0.96):
  // ranks (2, 3, 1, 4, 5) vs (2, 3, 1, 4, 5)
  assert.equal(r.rhoN, 5);
  assert.equal(r.rho!.estimate, 1);
});

test('probe report --reference: the table on the page, in verdicts.json and the summary; a bad file is one line, exit 2, no report', () => {
  const dir = study(tmp());
  const r = probe(['report', dir, '--reference', WRITEUP, '--no-images']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /reproduction \(.*study-writeup\.csv\): no combination judged against a published spread \(4 without one, or without runs here\); Spearman ρ 1\.00/);
  assert.match(r.stdout, /relu-sigmoid-relu: ours 51\.67% ± 33\.29 \(3 runs, 67% failing\) · published 34\.91%/);
  const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
  assert.match(html, /<h3 id="reproduction">Reproduction/);
  assert.match(html, /<td>selu-sigmoid-relu<\/td><td>mnist<\/td><td>3<\/td><td>78\.33 ± 7\.64<\/td><td>100%<\/td><td>75\.16<\/td>/);
  const v = JSON.parse(readFileSync(join(dir, 'report', 'verdicts.json'), 'utf8'));
  assert.equal(v.reproduction.rows.length, 4);
  const bad = join(tmp(), 'bad.csv');
  const out = join(tmp(), 'out');
  for (const [text, why] of [
    ['combo,mean\nrelu-sigmoid-gelu,30', /line 2: 'relu-sigmoid-gelu' is not a combination/],
    ['combo,mean\nrelu-sigmoid-relu,thirty', /line 2: mean 'thirty' is not a number/],
    ['combination,accuracy\nrelu-sigmoid-relu,30', /needs a 'combination' and a 'mean' column/],
    ['combo,mean\nrelu-sigmoid-relu,130', /line 2: accuracy 130% is above 100%/],
    ['combo,mean\nrelu-sigmoid-relu,30\nrelu-sigmoid-relu,31', /line 3: relu-sigmoid-relu is listed twice/],
  ] as const) {
    writeFileSync(bad, text);
    const b = probe(['report', dir, '--reference', bad, '--out', out]);
    assert.equal(b.status, 2, b.stderr);
    assert.match(b.stderr, why);
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    assert.ok(!existsSync(out), 'no report written');
  }
  const missing = probe(['report', dir, '--reference', join(dir, 'nope.csv'), '--out', out]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--reference .*nope\.csv: cannot read it \(ENOENT\)/);
});
