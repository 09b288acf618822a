/**
 * The PyTorch recorder against probe's engine: the study's MLP with the engine's initial weights
 * and the engine's batches, trained in PyTorch (SGD, lr 0.01, momentum 0.5) and recorded with
 * probe_torch, gives the engine's trace row by row: the same steps, layers, probes and metrics,
 * values within the tolerances below — per-step probes, per-unit activity windows, the diagnosis
 * at each evaluation (the one before training included) and the evaluation figures.
 *
 * Needs a Python with torch and probe_torch (scripts/torch-env.sh, run by scripts/test.sh as
 * PROBE_TORCH_PYTHON); skips with the reason otherwise.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runExperiment } from '../src/experiment/run.js';
import { readTrace, type Trace } from '../src/trace/reader.js';
import { RunProbe } from '../src/trace/schema.js';
import { FIXTURES, tmp, useBackend } from './helpers.js';
import { runStudyMlp, TORCH_ENVS, writeStudySpec } from './torch-spec.js';
import { checkTrace } from '../src/trace/conformance.js';

before(() => useBackend('wasm'));

const SEED = 3, EPOCHS = 2, BATCH = 32;
/** every activation the engine has, in a hidden and in the output position; two as nn.Sequential with activation modules */
const CASES: { combo: string; model: 'functional' | 'sequential'; extra?: string[] }[] = [
  { combo: 'relu-sigmoid-relu', model: 'functional' },
  { combo: 'tanh-selu-sigmoid', model: 'sequential' },
  { combo: 'selu-relu-tanh', model: 'functional', extra: ['--evaluate-first'] },
  { combo: 'sigmoid-tanh-selu', model: 'sequential', extra: ['--no-optimizer'] },
];

/** "step|epoch|layer|probe|metric" → value, for every row but timing (wall time is never compared) */
function rows(t: Trace): Map<string, number> {
  const c = t.columns;
  const out = new Map<string, number>();
  for (let i = 0; i < c.length; i++) {
    const probe = c.probes[c.probe[i]];
    if (probe === RunProbe.timing) continue;
    const key = `${c.step[i]}|${c.epoch[i]}|${c.layer[i]}|${probe}|${c.metrics[c.metric[i]]}`;
    assert.ok(!out.has(key), `${t.path}: two rows for ${key}`);
    out.set(key, c.value[i]);
  }
  return out;
}

/**
 * Tolerances, fixed from how the two computations differ, not from their results. Both run in
 * float32; the products sum in different orders (PyTorch's BLAS vs the engine's kernels), which
 * changes a dot product of 784 terms by ~1e-6 relative and, through 20 SGD steps, the weights by
 * about as much. Continuous values (losses, norms, derivatives, quantiles, update ratios): 1e-3
 * relative, with 1e-6 absolute for values near zero. Shares are counts: an entry whose z or a lies
 * within rounding of a threshold may fall on either side, so a share may differ by one sample of
 * its denominator's smallest unit — 1/batch for a step's figures (as attach-differential.test.ts),
 * 1/(test inputs) for the diagnosis's per-input shares, and for the shares of the errors
 * (err_*, errset_*), one error of the fewest errors either run made.
 */
function tolerance(key: string, want: number, testN: number, errors: number): number {
  const [, , , probe, metric] = key.split('|');
  const share = /dead_|inactive|active_u|^u\d+$|sat_frac|sat_low|sat_high|accuracy|^test_(error|sat_pairs|sat_inputs|dead|majority|true|inactive)|^in_|test_acc/.test(metric);
  if (probe === 'diagnosis' && /^(err_|errset_)/.test(metric)) return 1 / Math.max(1, errors) + 1e-6;
  if (share) return (probe === 'diagnosis' || probe === RunProbe.eval ? 1 / testN : 1 / BATCH) + 1e-6;
  return 1e-6 + 1e-3 * Math.abs(want);
}

for (const env of TORCH_ENVS) for (const c of CASES) {
  test(`${env.label}: a ${c.model} MLP recorded with probe_torch gives the engine's trace: ${c.combo}${c.extra ? ` (${c.extra.join(' ')})` : ''}`, { skip: env.skip }, async () => {
    const python = env.python;
    const dir = tmp('probe-torch-diff-');
    const engine = await runExperiment(
      { combo: c.combo, seed: SEED, epochs: EPOCHS, dataDir: FIXTURES, backend: 'wasm', batch: BATCH },
      { out: join(dir, 'engine') },
    );
    const spec = join(dir, 'spec');
    mkdirSync(spec);
    const { testN } = writeStudySpec(spec, { combo: c.combo, seed: SEED, epochs: EPOCHS, dataDir: FIXTURES });
    runStudyMlp(python!, spec, ['--out', join(dir, 'torch'), '--run', engine.run, '--combo', c.combo, '--model', c.model, ...(c.extra ?? [])]);
    const et = readTrace(engine.path), tt = readTrace(join(dir, 'torch', `${engine.run}.arrow`));
    assert.equal(tt.status, 'complete');
    assert.deepEqual(checkTrace(tt).violations, [], 'the trace format holds');
    // the optimizer is known to the trace when given, or found by torch 2's step hook
    const torch2 = /^2\./.test(tt.facts.versions.torch);
    assert.equal((tt.config.raw.optimizer as { className?: string } | undefined)?.className, c.extra?.includes('--no-optimizer') && !torch2 ? undefined : 'SGD');
    assert.deepEqual(tt.facts.layers.map((l) => [l.activation, l.fanIn, l.fanOut]), et.facts.layers.map((l) => [l.activation, l.fanIn, l.fanOut]));
    const want = rows(et), got = rows(tt);
    assert.deepEqual([...got.keys()].filter((k) => !want.has(k)), [], 'rows the engine does not write');
    assert.deepEqual([...want.keys()].filter((k) => !got.has(k)), [], 'rows of the engine missing');
    const errorsAt = (m: Map<string, number>, step: number, epoch: number) => Math.round((m.get(`${step}|${epoch}|0|diagnosis|test_error`) ?? 0) * testN);
    const worst = new Map<string, { key: string; ratio: number }>();
    for (const [key, w] of want) {
      const g = got.get(key)!;
      const [step, epoch] = key.split('|').map(Number);
      if (Number.isNaN(w) || Number.isNaN(g)) {
        assert.ok(Number.isNaN(w) && Number.isNaN(g), `${key}: engine ${w}, PyTorch ${g}`);
        continue;
      }
      const tol = tolerance(key, w, testN, Math.min(errorsAt(want, step, epoch), errorsAt(got, step, epoch)));
      const ratio = Math.abs(g - w) / tol;
      const kind = key.split('|').slice(3).join('/').replace(/\d+$/, 'k');
      if (ratio > (worst.get(kind)?.ratio ?? -1)) worst.set(kind, { key, ratio });
      assert.ok(ratio <= 1, `${key}: PyTorch ${g} vs engine ${w} (tolerance ${tol})`);
    }
    assert.ok(want.size > 500, `compared ${want.size} rows`);
    if (process.env.PROBE_TORCH_DIFF_VERBOSE) console.log([...worst.entries()].sort((a, b) => b[1].ratio - a[1].ratio).slice(0, 12).map(([k, v]) => `${k} ${v.ratio.toFixed(3)} (${v.key})`).join('\n'));
  });
}
