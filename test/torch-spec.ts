/**
 * What the PyTorch side needs to train the engine's very run (python/tests/study_mlp.py): the
 * engine's initial weights, its normalized-input lookup table, the images and labels as bytes, and
 * each epoch's sample order. Used by the PyTorch tests and the bench.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCombo } from '../src/activations/index.js';
import { loadDataset } from '../src/train/data.js';
import { initParams } from '../src/train/model.js';
import { permutation, rng } from '../src/train/rng.js';
import type { Trace } from '../src/trace/reader.js';
import { RunProbe } from '../src/trace/schema.js';
import { ROOT } from './helpers.js';

export const STUDY_MLP = join(ROOT, 'python', 'tests', 'study_mlp.py');

/** A Python with torch and probe_torch, or why there is none (scripts/torch-env.sh, run by npm test). */
export interface TorchEnv {
  readonly label: string;
  readonly python: string | undefined;
  /** false, or the one-line reason the tests skip */
  readonly skip: string | false;
}

const torchEnv = (label: string, python: string | undefined, why: string | undefined): TorchEnv => ({
  label, python: python || undefined,
  skip: python ? false : `no ${label}: ${why || 'its Python is not set (npm test runs scripts/torch-env.sh)'}`,
});

/** Debian's python3-torch 1.13 (no optimizer step hooks), and pip's torch 2.x CPU wheel. */
export const TORCH_ENVS: readonly TorchEnv[] = [
  torchEnv("Debian's python3-torch", process.env.PROBE_TORCH_PYTHON, process.env.PROBE_TORCH_WHY),
  torchEnv('the torch 2.x wheel', process.env.PROBE_TORCH2_PYTHON, process.env.PROBE_TORCH2_WHY),
];

export interface SpecInput {
  readonly combo: string;
  readonly seed: number;
  readonly epochs: number;
  readonly dataDir?: string;
  readonly trainLimit?: number | null;
  readonly testLimit?: number | null;
  readonly hidden?: readonly number[];
  readonly batch?: number;
}

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Writes the spec into `dir` (which must exist); returns the number of training samples. */
export function writeStudySpec(dir: string, s: SpecInput): { trainN: number; testN: number } {
  const data = loadDataset({ dataDir: s.dataDir, trainLimit: s.trainLimit ?? null, testLimit: s.testLimit ?? null });
  if (data.lutOffset.some((o) => o !== 0)) throw new Error('writeStudySpec: one lookup table per feature is not supported');
  const sizes = [data.train.dim, ...(s.hidden ?? [500, 256]), data.classes];
  const activations = parseCombo(s.combo, sizes.length - 1);
  const params = initParams({ sizes, activations }, s.seed);
  const init = new Float32Array(params.reduce((n, p) => n + p.w.length + p.b.length, 0));
  let at = 0;
  for (const p of params) { init.set(p.w, at); at += p.w.length; init.set(p.b, at); at += p.b.length; }
  writeFileSync(join(dir, 'spec.json'), JSON.stringify({ sizes, dim: data.train.dim, seed: s.seed, lr: 0.01, momentum: 0.5, batch: s.batch ?? 32, epochs: s.epochs, dataset: data.name }));
  writeFileSync(join(dir, 'lut.f32'), bytes(data.lut.subarray(0, 256)));
  writeFileSync(join(dir, 'train.u8'), data.train.pixels);
  writeFileSync(join(dir, 'train-labels.u8'), data.train.labels);
  writeFileSync(join(dir, 'test.u8'), data.test.pixels);
  writeFileSync(join(dir, 'test-labels.u8'), data.test.labels);
  writeFileSync(join(dir, 'init.f32'), bytes(init));
  for (let e = 1; e <= s.epochs; e++) writeFileSync(join(dir, `order-${e}.i32`), bytes(Int32Array.from(permutation(data.train.n, rng(s.seed, 'shuffle', e)))));
  return { trainN: data.train.n, testN: data.test.n };
}

/** Runs study_mlp.py with `python`; throws with its stderr when it fails. */
export function runStudyMlp(python: string, spec: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): { stdout: string; stderr: string } {
  const r = spawnSync(python, [STUDY_MLP, spec, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`study_mlp.py ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** "step|epoch|layer|probe|metric" → value, for every row but timing (wall time is never compared) */
function keyed(t: Trace): Map<string, number> {
  const c = t.columns;
  const out = new Map<string, number>();
  for (let i = 0; i < c.length; i++) {
    const probe = c.probes[c.probe[i]];
    if (probe === RunProbe.timing) continue;
    const key = `${c.step[i]}|${c.epoch[i]}|${c.layer[i]}|${probe}|${c.metrics[c.metric[i]]}`;
    if (out.has(key)) throw new Error(`${t.path}: two rows for ${key}`);
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
 * (err_*, errset_*, layer_err_*), one error of the fewest errors either run made. Over a whole epoch the two
 * trajectories part further (rounding compounds through 1,875 steps): the bench reports how far,
 * it does not hold them to these.
 */
export function tolerance(key: string, want: number, batch: number, testN: number, errors: number): number {
  const [, , , probe, metric] = key.split('|');
  const share = /dead_|inactive|active_u|^u\d+$|sat_frac|sat_low|sat_high|sat_wrong_frac|accuracy|^test_(error|sat_pairs|sat_inputs|dead|majority|true|inactive)|^in_|test_acc/.test(metric);
  if (probe === 'diagnosis' && /^(err_|errset_|layer_err_)/.test(metric)) return 1 / Math.max(1, errors) + 1e-6;
  if (share) return (probe === 'diagnosis' || probe === RunProbe.eval ? 1 / testN : 1 / batch) + 1e-6;
  return 1e-6 + 1e-3 * Math.abs(want);
}

export interface TraceDiff {
  /** rows compared (NaN in both counts as equal) */
  readonly compared: number;
  readonly missing: readonly string[];
  readonly extra: readonly string[];
  /** rows beyond their tolerance, or NaN in one trace only */
  readonly failures: readonly string[];
  /** per kind of value (probe/metric, unit numbers folded), the largest |difference| / tolerance */
  readonly worst: readonly { readonly kind: string; readonly key: string; readonly ratio: number }[];
}

/** The engine's trace against a PyTorch trace of the same run, row by row, with {@link tolerance}. */
export function diffTraces(engine: Trace, torch: Trace, o: { readonly batch: number; readonly testN: number; readonly unseen?: RegExp }): TraceDiff {
  const want = keyed(engine), got = keyed(torch);
  const errorsAt = (m: Map<string, number>, step: number, epoch: number) => Math.round((m.get(`${step}|${epoch}|0|diagnosis|test_error`) ?? 0) * o.testN);
  const worst = new Map<string, { key: string; ratio: number }>();
  const failures: string[] = [];
  let compared = 0;
  for (const [key, w] of want) {
    const g = got.get(key);
    if (g === undefined) continue;
    compared++;
    // a figure probe_torch cannot measure on this model: written, as NaN
    if (o.unseen?.test(key)) {
      if (!Number.isNaN(g)) failures.push(`${key}: PyTorch ${g}, where it cannot see what it needs (NaN expected)`);
      continue;
    }
    const [step, epoch] = key.split('|').map(Number);
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (!(Number.isNaN(w) && Number.isNaN(g))) failures.push(`${key}: engine ${w}, PyTorch ${g}`);
      continue;
    }
    const tol = tolerance(key, w, o.batch, o.testN, Math.min(errorsAt(want, step, epoch), errorsAt(got, step, epoch)));
    const ratio = Math.abs(g - w) / tol;
    const kind = key.split('|').slice(3).join('/').replace(/\d+$/, 'k');
    if (ratio > (worst.get(kind)?.ratio ?? -1)) worst.set(kind, { key, ratio });
    if (!(ratio <= 1)) failures.push(`${key}: PyTorch ${g} vs engine ${w} (tolerance ${tol})`);
  }
  return {
    compared, failures,
    missing: [...want.keys()].filter((k) => !got.has(k)),
    extra: [...got.keys()].filter((k) => !want.has(k)),
    worst: [...worst.entries()].map(([kind, v]) => ({ kind, ...v })).sort((a, b) => b.ratio - a.ratio),
  };
}
