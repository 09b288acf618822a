/**
 * `--backend auto` chooses between the backends that load by timing this run's own step on each:
 * which one wins depends on the machine (cores, TensorFlow's build, the wasm kernels) and on the
 * workload (probes on or off, layer sizes), so no fixed order is right everywhere. tfjs-node was
 * measured both 2× slower and faster than wasm on the same 2-core machine as the code changed.
 *
 * The timing runs the real step (the run's layer sizes, activations, batch size, engine, batch
 * normalization and probes) on a throw-away model, in interleaved rounds
 * (so a burst of load from other processes hits every backend alike), and takes the median. Given
 * the run's data (`input`), it steps through the run's own batches in the input form each backend
 * gives the model (on MNIST, the sparse input layer on wasm, dense on tfjs-node); else fixed random
 * dense data.
 * It costs ~0.5 s and is cached per machine and workload in `$PROBE_CACHE/backend-calibration.json`
 * (default ~/.cache/probe); `PROBE_RECALIBRATE=1` measures again. The trace records the figures.
 */
import { createHash } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { cpus, homedir, totalmem } from 'node:os';
import { join } from 'node:path';
import tf from '../tf.cjs';
import type { TrainedActivation } from '../activations/index.js';
import { writeAtomic } from '../fs-util.js';
import { packageVersion, probeVersion } from '../versions.js';
import type { BackendName } from './choices.js';
import { BatchBuilder, disposeBatch } from './batch.js';
import { Mlp, type Batch, type EngineKind } from './engine.js';
import type { TensorHooks } from './hooks.js';
import { initParams } from './model.js';
import { rng } from './rng.js';
import { tfjsNodeEnv } from './tfjs-node-env.js';

/** What a run will compute each step: the figures are only comparable for the same workload. */
export interface Workload {
  readonly sizes: readonly number[];
  readonly activations: readonly TrainedActivation[];
  readonly batch: number;
  readonly engine: EngineKind;
  readonly bn: readonly boolean[];
  /** fresh hooks for the timed steps (the run's probes), or null when probes are off */
  readonly hooks: () => TensorHooks | null;
  /** the run's training data: its first batches are the timed ones, in each backend's input form */
  readonly input?: BatchBuilder;
}

/** One training step of a model that is not probe's own MLP, built on whichever backend is current. */
export interface StepRig {
  /** one training step; `s` counts steps from 0 in the warm-up and in each round */
  step(s: number): void | Promise<void>;
  dispose(): void;
  /** probe's MLP: the input form its model took on this backend (engine.ts) */
  readonly inputForm?: string;
}

/**
 * A workload given as a rig factory (e.g. a tf.LayersModel from `probe run --model`): `key` says
 * what the timing depends on (model file, input shape, batch), `rig` builds the model on the
 * current backend. A backend on which the rig cannot train (a missing kernel) never wins.
 */
export interface RigWorkload {
  readonly key: Readonly<Record<string, unknown>>;
  readonly rig: () => Promise<StepRig>;
}

export type AnyWorkload = Workload | RigWorkload;
const isRig = (w: AnyWorkload): w is RigWorkload => 'rig' in w;

/** How `auto` chose, as recorded in the trace. */
export interface Calibration {
  /** median ms per step of each backend timed */
  readonly msPerStep: Readonly<Partial<Record<BackendName, number>>>;
  /** when the figures were measured (ISO time) */
  readonly measuredAt: string;
  /** read from the cache rather than measured by this run */
  readonly cached: boolean;
}

/** The backend with the lowest time; ties go to the earlier one in `order`. */
export function fastest(ms: Readonly<Partial<Record<BackendName, number>>>, order: readonly BackendName[]): BackendName {
  const t = (b: BackendName) => (Number.isFinite(ms[b]) ? ms[b]! : Infinity);
  let best = order[0];
  for (const b of order) if (t(b) < t(best)) best = b;
  return best;
}

export function calibrationCachePath(): string {
  const root = process.env.PROBE_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'probe');
  return join(root, 'backend-calibration.json');
}

/**
 * What the step's speed depends on besides the workload: probe's own code (its version and the
 * bytes of its wasm kernels, so a rebuilt kernel is timed again), the switches that change which
 * kernels run, and the machine.
 */
let kernelsHash: string | null = null;
function software(): Record<string, unknown> {
  // the kernel files do not change while a process runs: hashed once, not at every cache lookup
  if (kernelsHash === null) {
    const wasmBytes = createHash('sha256');
    for (const f of ['./kernels/products.wasm', './kernels/products-simd.wasm']) {
      try { wasmBytes.update(readFileSync(new URL(f, import.meta.url))); } catch { wasmBytes.update('missing'); }
    }
    kernelsHash = wasmBytes.digest('hex').slice(0, 16);
  }
  const env = (k: string) => process.env[k] ?? '';
  return {
    probe: probeVersion(), kernels: kernelsHash,
    switches: ['PROBE_HOST_KERNELS', 'PROBE_WASM_PRODUCTS', 'PROBE_RELAXED_SIMD', 'PROBE_FUSED', 'PROBE_SPARSE'].map(env),
    // as tfjs-node will load with them: the same before loading it (the lookup) as after (the store)
    tfjsNodeEnv: tfjsNodeEnv(),
    cpu: cpus()[0]?.model ?? '?', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.versions.node,
    tfjs: packageVersion('@tensorflow/tfjs'), tfjsNode: packageVersion('@tensorflow/tfjs-node'), wasm: packageVersion('@tensorflow/tfjs-backend-wasm'),
  };
}

/** Machine, software and workload: a change in any of them may change the answer. */
function cacheKey(w: AnyWorkload, backends: readonly BackendName[]): string {
  if (isRig(w)) return JSON.stringify({ ...software(), backends, ...w.key });
  const probes = w.hooks() !== null;
  // real batches time each backend's own input form, which depends on the data's share of nonzeros
  const p = w.input?.inputProfile();
  const input = p ? { density: Math.round(p.density * 100) / 100 } : 'random';
  return JSON.stringify({ ...software(), backends, sizes: w.sizes, activations: w.activations, batch: w.batch, engine: w.engine, bn: w.bn, probes, input });
}

/**
 * The cached figures for this workload on `backends`, if any (and `PROBE_RECALIBRATE` is not 1):
 * `auto` then loads only the winner (tfjs-node's binding alone takes ~1 s to load).
 */
export function cachedCalibration(w: AnyWorkload, backends: readonly BackendName[]): Calibration | null {
  if (process.env.PROBE_RECALIBRATE === '1') return null;
  const hit = readCache()[cacheKey(w, backends)];
  // JSON keeps "cannot train here" (Infinity) as null
  const ms = (b: BackendName) => { const v = hit?.msPerStep[b] as number | null | undefined; return v === null ? Infinity : v; };
  if (!hit || !backends.every((b) => typeof ms(b) === 'number' && !Number.isNaN(ms(b)))) return null;
  return { msPerStep: Object.fromEntries(backends.map((b) => [b, ms(b)])), measuredAt: hit.measuredAt, cached: true };
}

function readCache(): Record<string, { msPerStep: Partial<Record<BackendName, number>>; measuredAt: string }> {
  try {
    const c = JSON.parse(readFileSync(calibrationCachePath(), 'utf8'));
    return c && typeof c === 'object' ? c : {};
  } catch {
    return {};
  }
}

/**
 * Times `backends` (each already loadable) on the workload, or returns the cached figures.
 * `use` switches tfjs to a backend. Leaves tfjs on the last backend timed.
 */
export async function calibrate(w: AnyWorkload, backends: readonly BackendName[], use: (b: BackendName) => Promise<void>): Promise<Calibration> {
  const key = cacheKey(w, backends);
  const hit = cachedCalibration(w, backends);
  if (hit) return hit;
  const msPerStep = isRig(w) ? await timeRigs(w.rig, backends, use, true) : await timeRigs(mlpRig(w), backends, use, false);
  const measuredAt = new Date().toISOString();
  try {
    const path = calibrationCachePath();
    mkdirSync(join(path, '..'), { recursive: true });
    writeAtomic(path, JSON.stringify({ ...readCache(), [key]: { msPerStep, measuredAt } }, null, 1), `${path}.${process.pid}.tmp`);
  } catch {
    // a read-only home only costs the next run another half second
  }
  return { msPerStep, measuredAt, cached: false };
}

const WARMUP = 4, ROUNDS = 5, STEPS = 6;

/**
 * Times each backend's rig in interleaved rounds (a burst of load hits every backend alike) and
 * gives the median ms per step. With `tolerant`, a backend whose rig fails to build or step is
 * Infinity (it cannot train this workload); otherwise the failure is the caller's.
 */
async function timeRigs(build: () => Promise<StepRig>, backends: readonly BackendName[], use: (b: BackendName) => Promise<void>, tolerant: boolean): Promise<Partial<Record<BackendName, number>>> {
  const rigs = new Map<BackendName, { rig: StepRig; times: number[] }>();
  const out: Partial<Record<BackendName, number>> = {};
  for (const b of backends) {
    await use(b);
    let rig: StepRig | null = null;
    try {
      rig = await build();
      for (let s = 0; s < WARMUP; s++) await rig.step(s);
      rigs.set(b, { rig, times: [] });
    } catch (e) {
      rig?.dispose();
      if (!tolerant) throw e;
      out[b] = Infinity; // cannot train here (e.g. wasm 4.22 has no Conv2DBackpropFilter)
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [b, r] of rigs) {
      await use(b);
      const t0 = performance.now();
      for (let s = 0; s < STEPS; s++) await r.rig.step(s);
      r.times.push((performance.now() - t0) / STEPS);
    }
  }
  for (const [b, r] of rigs) {
    await use(b);
    r.rig.dispose();
    out[b] = [...r.times].sort((p, q) => p - q)[Math.floor(r.times.length / 2)];
  }
  return out;
}

/** The run's own step on probe's MLP: a throw-away model built per backend, on the run's batches or fixed random data. */
export function mlpRig(w: Workload): () => Promise<StepRig> {
  if (w.input) return dataRig(w, w.input);
  const r = rng(0, 'calibration');
  const [dim, classes] = [w.sizes[0], w.sizes[w.sizes.length - 1]];
  const x = Float32Array.from({ length: w.batch * dim }, () => r.float() * 2 - 1);
  const labels = Int32Array.from({ length: w.batch }, () => r.int(classes));
  const arch = { sizes: w.sizes, activations: w.activations };
  return async () => {
    const batch = makeBatch(x, labels, dim, classes);
    const model = new Mlp(arch, initParams(arch, 0), { lr: 0.01, momentum: 0.5 }, w.engine, w.bn);
    const hooks = w.hooks();
    return {
      step: (s) => { model.step(batch, hooks, { step: s, epoch: 1, batchSize: w.batch }); },
      dispose: () => { model.dispose(); tf.dispose([batch.xf, batch.xb, batch.onehot, batch.labels]); },
    };
  };
}

/** The run's first batches in the input form the current backend gives the model (sparse or dense), in order. */
function dataRig(w: Workload, builder: BatchBuilder): () => Promise<StepRig> {
  const arch = { sizes: w.sizes, activations: w.activations };
  return async () => {
    const model = new Mlp(arch, initParams(arch, 0), { lr: 0.01, momentum: 0.5 }, w.engine, w.bn, builder.inputProfile());
    const hooks = w.hooks(), n = builder.samples, batches = Math.max(1, Math.floor(n / w.batch));
    const order = Uint32Array.from({ length: n }, (_, i) => i);
    return {
      step: (s) => {
        const batch = builder.build(order, (s % batches) * w.batch, Math.min(w.batch, n), model.inputForm);
        try {
          model.step(batch, hooks, { step: s, epoch: 1, batchSize: batch.size });
        } finally {
          disposeBatch(batch);
        }
      },
      dispose: () => model.dispose(),
      inputForm: model.inputForm,
    };
  };
}

function makeBatch(x: Float32Array, labels: Int32Array, dim: number, classes: number): Batch {
  const B = labels.length;
  const xf = new Float32Array(dim * B);
  for (let s = 0; s < B; s++) for (let f = 0; f < dim; f++) xf[f * B + s] = x[s * dim + f];
  const onehot = new Float32Array(B * classes);
  labels.forEach((c, s) => (onehot[s * classes + c] = 1));
  return { size: B, xf: tf.tensor2d(xf, [dim, B]), xb: tf.tensor2d(x, [B, dim]), onehot: tf.tensor2d(onehot, [B, classes]), labels: tf.tensor1d(labels, 'int32') };
}
