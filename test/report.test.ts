import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Table, tableToIPC } from 'apache-arrow';
import { buildReport } from '../src/report/index.js';
import { INDEX_FILE } from '../src/read/folder.js';
import { writeIndex } from '../src/sweep/sweep-index.js';
import { acquireRunLock } from '../src/trace/run-lock.js';
import { MetaKey, traceSchema } from '../src/trace/schema.js';
import { clusteredDiff, clusteredMean, clusteredSpearman, spearman, type Clustered } from '../src/read/stats.js';

/** Each run its own cluster: the two-stage bootstrap is then the plain one over runs. */
const runs = (xs: readonly number[], ys?: readonly number[]): Clustered[] => xs.map((x, i) => ({ cluster: String(i), x, ...(ys ? { y: ys[i] } : {}) }));
import { deathStep } from '../src/read/digest.js';
import { groupOf } from '../src/study/hypotheses.js';
import { writeSyntheticTrace, type SyntheticRun } from './synthetic.js';
import { tmp, probeCli as probe } from './helpers.js';

test('spearman: ±1 for monotone data, mean ranks for ties', () => {
  assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 1);
  assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  assert.ok(Math.abs(spearman([1, 1, 2, 3], [1, 2, 3, 4]) - 0.9486832980505138) < 1e-12);
});

test('bootstrap intervals contain the estimate, are reproducible, and narrow with more data', () => {
  const xs = Array.from({ length: 40 }, (_, i) => (i % 5) / 4);
  const a = clusteredMean(runs(xs)), b = clusteredMean(runs(xs));
  assert.deepEqual(a, b);
  assert.ok(a.lo <= a.estimate && a.estimate <= a.hi);
  const wide = clusteredMean(runs(xs.slice(0, 5)));
  assert.ok(wide.hi - wide.lo > a.hi - a.lo);
  const d = clusteredDiff(runs([0.9, 0.95, 1, 0.92]), runs([0.1, 0.05, 0.2, 0.15]));
  assert.ok(d.lo > 0.6 && d.hi < 0.95);
  const r = clusteredSpearman(runs([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]));
  assert.deepEqual([r.estimate, r.lo, r.hi], [-1, -1, -1]);
});

test('groups come from the last two activations', () => {
  assert.equal(groupOf(['relu', 'sigmoid', 'relu']), 'target');
  assert.equal(groupOf(['sigmoid', 'tanh', 'relu']), 'C1');
  assert.equal(groupOf(['relu', 'sigmoid', 'selu']), 'C2');
  assert.equal(groupOf(['relu', 'tanh', 'tanh']), 'other');
});

test('a unit is dead from the step it stops firing for good, not for a short pause at the end', () => {
  const steps = Array.from({ length: 1000 }, (_, i) => i);
  assert.equal(deathStep(steps, steps.map((s) => (s < 300 ? 0.5 : 0))), 300);
  assert.equal(deathStep(steps, steps.map(() => 0)), 0);
  assert.equal(deathStep(steps, steps.map((s) => (s < 990 ? 0.5 : 0))), null);
  assert.equal(deathStep(steps, steps.map(() => 0.1)), null);
});

/** A small study: seeds of the target and both controls, with chosen measures. */
function study(dir: string, h1: boolean, h2: boolean): void {
  const runs: SyntheticRun[] = [];
  for (const seed of [1, 2, 3, 4]) {
    // target fails; its output ReLU dead (H1) and/or its sigmoid saturated (H2)
    runs.push({ combo: 'relu-sigmoid-relu', seed, acc: 0.1 + 0.02 * seed, deadRows: h1 ? 0.9 : 0.05, sat: h2 ? 0.85 : 0.1, h1Cause: h1 ? 0.9 : 0.05, h2Cause: h2 ? 0.8 : 0.05 });
    runs.push({ combo: 'tanh-sigmoid-relu', seed, acc: 0.12 + 0.01 * seed, deadRows: h1 ? 0.85 : 0.05, sat: h2 ? 0.9 : 0.1, h1Cause: h1 ? 0.85 : 0.05, h2Cause: h2 ? 0.85 : 0.05 });
    // C1: the sigmoid replaced; trains well, output ReLU alive
    runs.push({ combo: 'relu-tanh-relu', seed, acc: 0.96 + 0.005 * seed, deadRows: 0.02 });
    runs.push({ combo: 'relu-relu-relu', seed, acc: 0.97, deadRows: 0.03 });
    // C2: the output ReLU replaced; trains well, sigmoid not saturated
    runs.push({ combo: 'relu-sigmoid-tanh', seed, acc: 0.95 + 0.004 * seed, sat: 0.1 });
    runs.push({ combo: 'relu-sigmoid-selu', seed, acc: 0.955, sat: 0.12 });
  }
  for (const r of runs) writeSyntheticTrace(dir, r);
}

for (const [h1, h2] of [[true, false], [false, true], [true, true], [false, false]] as const) {
  test(`verdicts on synthetic runs where H1 ${h1 ? 'holds' : 'fails'} and H2 ${h2 ? 'holds' : 'fails'}`, async () => {
    const dir = tmp();
    study(dir, h1, h2);
    const r = await buildReport([dir], { noImages: true });
    const v = Object.fromEntries(r.hypotheses.map((h) => [h.id, h.verdict]));
    assert.equal(v.H1, h1 ? 'supported' : 'not supported', JSON.stringify(r.hypotheses.find((h) => h.id === 'H1')?.claims));
    assert.equal(v.H2, h2 ? 'supported' : 'not supported', JSON.stringify(r.hypotheses.find((h) => h.id === 'H2')?.claims));
    const saved = JSON.parse(readFileSync(join(dir, 'report', 'verdicts.json'), 'utf8'));
    assert.deepEqual(saved.hypotheses.map((h: { verdict: string }) => h.verdict), [v.H1, v.H2]);
  });
}

test("a claim whose statistic is undefined says why (a measure that never varies), not that its interval includes the threshold", async () => {
  const dir = tmp();
  // H2's measure is exactly 0 in every target and C2 run: Spearman's ρ has only tied ranks
  for (const seed of [1, 2, 3, 4]) {
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.1 + 0.02 * seed, deadRows: 0.9, sat: 0, h1Cause: 0.9, h2Cause: 0.05 });
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed, acc: 0.97, deadRows: 0.03 });
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-tanh', seed, acc: 0.95 + 0.004 * seed, sat: 0 });
  }
  const r = await buildReport([dir], { noImages: true });
  const h2 = r.hypotheses.find((h) => h.id === 'H2')!;
  const claim = (id: string) => h2.claims.find((c) => c.id === id)!;
  assert.equal(claim('C').statistic, 'Spearman ρ undefined');
  assert.equal(claim('C').holds, null);
  assert.equal(claim('C').missing, 'ρ is undefined: the measure is 0.000 in all 8 runs');
  assert.equal(claim('B').missing, 'the measure is 0.000 in every run of both groups');
  const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
  assert.doesNotMatch(html, /ρ NaN/);
  assert.match(html, /undecided \(ρ is undefined: the measure is 0.000 in all 8 runs\)/);
});


test('the terminal summary: claims with nothing to show are left to the reason, and with no claim at all it says what a verdict needs', () => {
  const one = tmp();
  // above chance: without controls nothing says it fails (at 10% it would, by the chance rule)
  writeSyntheticTrace(one, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.5, deadRows: 0.95, sat: 0.1 });
  const r = probe(['report', one, '--no-images']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /: — \(/, 'no claim line without a statistic');
  assert.match(r.stdout, /^H1 INCONCLUSIVE/m);
  const needs = /^no claim can be computed yet: a verdict needs 3 runs in the target group \(\*-sigmoid-relu\) and in each control \(C1 (\S+), C2 (\S+)\), and 3 failing target runs \(seeds count\); e\.g\. probe sweep --combos '([^']+)' --seeds 1-5$/m.exec(r.stdout);
  assert.ok(needs, r.stdout);
  // the patterns it prints are --combos patterns the sweep accepts, and cover the groups
  for (const combos of [needs[1], needs[2], needs[3]]) assert.equal(probe(['sweep', '--combos', combos, '--seeds', '1', '--backend', 'wasm', '--emit', 'slurm']).status, 0, combos);
  const many = tmp();
  study(many, true, false);
  const m = probe(['report', many, '--no-images']);
  assert.match(m.stdout, /^ {3}B higher in the target group than in C1: difference /m);
  assert.doesNotMatch(m.stdout, /no claim can be computed/);
});

test("a sweep's index stands for its folder: report writes beside it; inspect says it is an index, not a trace", () => {
  const dir = tmp();
  for (const seed of [1, 2]) writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.2, deadRows: 0.9, sat: 0.2 });
  writeIndex(dir);
  const elsewhere = tmp();
  const r = probe(['report', join(dir, INDEX_FILE), '--no-images'], { cwd: elsewhere });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'report', 'index.html')), 'the report is in the sweep folder');
  assert.deepEqual(readdirSync(elsewhere), [], 'nothing written where the command ran');
  const i = probe(['inspect', join(dir, INDEX_FILE)]);
  assert.equal(i.status, 2);
  assert.equal(i.stderr.trim(), `error ${join(dir, INDEX_FILE)} is a sweep index (one row per run), not a trace: give one of the traces it lists to inspect, or its folder to probe report or probe compare`);
});

test('too few runs, or a single run, gives no verdict and says what a verdict needs', async () => {
  const dir = tmp();
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.1, deadRows: 0.95, sat: 0.1 });
  const r = await buildReport([dir], { noImages: true });
  assert.deepEqual(r.hypotheses.map((h) => h.verdict), ['inconclusive', 'inconclusive']);
  assert.match(r.hypotheses[0].reason, /B: needs 3 runs in the target group and in C1, has 1 and 0/);
  const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
  assert.match(html, /One run only: relu-sigmoid-relu_s1: final test accuracy 10.0%; 9\d\.\d% of \(test input, output unit\) pairs have z ≤ 0/);
  assert.match(html, /A verdict needs at least 3 runs/);
});

test('a truncated trace is reported as such and its finished epochs are used', async () => {
  const dir = tmp();
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.5, epochs: 5, killAfter: 2 });
  writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.9, deadRows: 0.0 });
  const warnings: string[] = [];
  const r = await buildReport([dir], { noImages: true, onWarning: (w) => warnings.push(w) });
  assert.equal(r.truncated, 1);
  assert.ok(warnings.some((w) => /relu-sigmoid-relu_s1.arrow is truncated \(running\): using its 2 complete epoch/.test(w)), warnings.join('\n'));
  const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
  assert.match(html, /relu-sigmoid-relu_s1 is truncated: 2 of 5 epochs finished/);
});

test('a probe no run recorded drops its chart with a warning; the rest is drawn', async () => {
  const dir = tmp();
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.5, probes: ['loss', 'dead-relu'] });
  const warnings: string[] = [];
  const r = await buildReport([dir], { noImages: true, onWarning: (w) => warnings.push(w) });
  assert.ok(!r.panels.includes('run-saturation') && !r.panels.includes('run-gradients'));
  assert.ok(r.panels.includes('run-dead-relu') && r.panels.includes('run-training'));
  assert.ok(warnings.some((w) => /skipped Saturation: no run recorded the 'saturation' probe/.test(w)));
  assert.ok(warnings.some((w) => /recorded without some probes/.test(w)));
});

test('report bad input: one line, exit 2, nothing overwritten without --force', () => {
  const empty = tmp();
  const oneLine = (r: ReturnType<typeof probe>, re: RegExp) => {
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  };
  oneLine(probe(['report', empty]), /no trace found in .*: give .arrow files written by probe run/);
  writeFileSync(join(empty, 'junk.arrow'), 'nope');
  oneLine(probe(['report', join(empty, 'junk.arrow')]), /junk.arrow is not a probe trace/);
  const future = join(tmp(), 'future.arrow');
  writeFileSync(future, tableToIPC(new Table(traceSchema(new Map([[MetaKey.version, '2'], [MetaKey.facts, '{}']]))), 'file'));
  oneLine(probe(['report', future]), /future.arrow has trace schema version 2; this probe reads version 1/);
  const dir = tmp();
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.5 });
  const file = join(tmp(), 'f');
  writeFileSync(file, '');
  oneLine(probe(['report', dir, '--out', join(file, 'out')]), /output directory .* is not writable/);
  assert.equal(probe(['report', dir, '--no-images']).status, 0);
  // a second report replaces its own earlier output (the loop: run, report, run more, report again)
  writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.9 });
  const again = probe(['report', dir, '--no-images', '--json']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).runs, 2);
  assert.ok(readdirSync(join(dir, 'report')).every((f) => !f.endsWith('.tmp')));
  // an index.html probe did not write is refused, and left as it was, unless --force
  const site = tmp();
  writeFileSync(join(site, 'index.html'), '<title>my site</title>');
  oneLine(probe(['report', dir, '--out', site]), /holds an index.html that is not a probe report: pass --force to replace it/);
  assert.equal(readFileSync(join(site, 'index.html'), 'utf8'), '<title>my site</title>');
  assert.equal(probe(['report', dir, '--out', site, '--force', '--no-images']).status, 0);
  assert.ok(readdirSync(site).every((f) => !f.endsWith('.tmp')));
  assert.ok(existsSync(join(dir, 'report', 'verdicts.json')));
});

test('a run still training (live lock) is charted but left out of the verdicts, not called truncated; once its process is gone it is truncated and counted', async () => {
  const dir = tmp();
  const flying = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.5, epochs: 5, killAfter: 2 });
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 2, acc: 0.3, deadRows: 0.5 });
  const lock = acquireRunLock(flying);
  assert.ok(lock.acquired);
  try {
    const warnings: string[] = [];
    const r = await buildReport([dir], { noImages: true, onWarning: (w) => warnings.push(w) });
    assert.equal(r.inFlight, 1);
    assert.equal(r.truncated, 0);
    assert.match(r.hypotheses[0].reason, /has 1 and 0/, 'only the finished run is counted');
    assert.ok(warnings.some((w) => /relu-sigmoid-relu_s1.arrow is in flight \(a live process holds its lock\)/.test(w)), warnings.join('\n'));
    assert.ok(!warnings.some((w) => / is truncated/.test(w)), warnings.join('\n'));
    const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
    assert.match(html, /relu-sigmoid-relu_s1 is in flight: 2 of 5 epochs finished, charted but left out of the verdicts/);
    assert.match(html, /2 traces \(1 combination\(s\), 0 truncated, 1 in flight\)/);
    assert.equal(JSON.parse(readFileSync(join(dir, 'report', 'verdicts.json'), 'utf8')).inFlight, 1);
  } finally {
    if (lock.acquired) lock.lock.release();
  }
  const r = await buildReport([dir], { noImages: true });
  assert.equal(r.inFlight, 0);
  assert.equal(r.truncated, 1);
  assert.match(r.hypotheses[0].reason, /has 2 and 0/, 'a stopped run counts with its finished epochs');
});
