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
