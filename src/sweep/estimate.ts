/**
 * What a sweep will cost, said before it starts: its runs' training step timed on this machine,
 * as a run takes it (the backend `auto` would choose, by the same timing and cache as
 * calibrate.ts, ~0.5 s when not cached; then 120 of the run's own steps, 60 timed), and one evaluation (test set with the diagnosis) timed on a slice of the real test set.
 *
 *   one run ≈ epochs × steps per epoch × step + (epochs + 1) × evaluation
 *   the sweep ≈ start + runs to do / workers × one run
 *
 * where start is what a worker spends once before its first step (loading tfjs, the backend and
 * the data; a worker keeps them for all its runs), timed here too: the caller passes how long
 * importing this module (and tfjs) took.
 *
 * Workers share the machine's cores: with more workers than cores a step is slower than timed here
 * alone, which the estimate does not model (the sweep warns about such a count).
 */
import { resolveConfig, type RunInput } from '../config.js';
import { evaluateDiagnosed } from '../experiment/evaluate.js';
import { loadDataset } from '../train/data.js';
import { selectBackend } from '../train/backend.js';
import { BatchBuilder, disposeBatch } from '../train/batch.js';
import type { Dataset } from '../train/data.js';
import { permutation, rng } from '../train/rng.js';
import { Mlp } from '../train/engine.js';
import { initParams } from '../train/model.js';
import { ProbeHost } from '../probes/host.js';
import { resolveProbes } from '../probes/registry.js';
import type { LayerInfo } from '../probes/probe.js';
import tf from '../tf.cjs';

export interface SweepEstimate {
  readonly backend: string;
  /** the training step, median ms (with the probes a typical step runs) */
  readonly msPerStep: number;
  /** seconds of one evaluation of the test set (before training and after each epoch) */
  readonly evalSeconds: number;
  readonly stepsPerEpoch: number;
  readonly epochs: number;
  /** seconds a worker spends once before its first step: loading tfjs, the backend, the data */
  readonly startSeconds: number;
  /** seconds of one run, alone on the machine */
  readonly runSeconds: number;
  /** seconds of `runs` runs on `workers` workers */
  readonly totalSeconds: number;
}

/** Test inputs timed for the evaluation estimate (scaled to the test set's size). */
const EVAL_SLICE = 1000;

/** Seconds of `runs` runs on `workers` workers, each worker starting once. */
export function sweepSeconds(runs: number, workers: number, e: Pick<SweepEstimate, 'startSeconds' | 'runSeconds'>): number {
  return e.startSeconds + Math.ceil(runs / Math.max(1, workers)) * e.runSeconds;
}

export async function estimateSweep(run: RunInput, runs: number, workers: number, importSeconds = 0): Promise<SweepEstimate> {
  const t0 = performance.now();
  const config = resolveConfig(run);
  const data = loadDataset({ dataset: config.dataset, dataDir: config.dataDir, trainLimit: config.trainLimit, testLimit: config.testLimit });
  const sizes = [data.train.dim, ...config.hidden, data.classes];
  const layers: LayerInfo[] = config.activations.map((activation, i) => ({ layer: i + 1, activation, fanIn: sizes[i], fanOut: sizes[i + 1], isOutput: i === config.activations.length - 1 }));
  const bn = layers.map((l) => config.bn === 'all' || (config.bn === 'last' && l.isOutput));
  const builder = new BatchBuilder(data.train, data.lut, data.lutOffset, data.classes);
  const workload = {
    sizes, activations: config.activations, batch: config.batch, engine: config.engine, bn, input: builder,
    hooks: () => { const h = new ProbeHost(resolveProbes(config.probes), layers, config.thresholds); return h.due(1, config.every) ? h : null; },
  };
  const backend = await selectBackend(config.backend, workload);
  const startSeconds = importSeconds + (performance.now() - t0) / 1000;
  // the step as a run takes it: its input form (the sparse input layer on MNIST), real batches, the
  // probes on their schedule (9 in 10 steps unprobed with --every 10) — calibration's step (then a
  // probed step on random dense data, for comparing backends) overstated a sweep: the 64-run
  // slice was said to take ~32 min and took 22. The same model then times one evaluation of a
  // slice of the test set, in that input form too (its cost does not depend on the weights).
  const arch = { sizes, activations: config.activations };
  const model = new Mlp(arch, initParams(arch, config.seed), { lr: config.lr, momentum: config.momentum }, config.engine, bn, builder.inputProfile());
  const slice = { ...data, test: { ...data.test, n: Math.min(EVAL_SLICE, data.test.n) } };
  let ms: number, evalSeconds: number;
  try {
    ms = runSteps(model, builder, config, data, layers);
    evaluateDiagnosed(model, slice, config.thresholds, null); // warm-up
    const t0 = performance.now();
    evaluateDiagnosed(model, slice, config.thresholds, null);
    evalSeconds = ((performance.now() - t0) / 1000) * (data.test.n / slice.test.n);
  } finally {
    model.dispose();
    tf.disposeVariables();
  }
  const stepsPerEpoch = Math.ceil(data.train.n / config.batch);
  const runSeconds = (config.epochs * stepsPerEpoch * ms) / 1000 + (config.epochs + 1) * evalSeconds;
  return {
    backend: backend.name, msPerStep: ms, evalSeconds, startSeconds, stepsPerEpoch, epochs: config.epochs, runSeconds,
    totalSeconds: sweepSeconds(runs, workers, { startSeconds, runSeconds }),
  };
}

/** Steps timed for the estimate, after as many untimed ones. */
const TIMED_STEPS = 60;

/** Mean ms of a run's own steps on `model` (its first epoch's order, its probes on their schedule). */
function runSteps(model: Mlp, builder: BatchBuilder, config: ReturnType<typeof resolveConfig>, data: Dataset, layers: LayerInfo[]): number {
  const host = new ProbeHost(resolveProbes(config.probes), layers, config.thresholds);
  const order = permutation(data.train.n, rng(config.seed, 'shuffle', 1));
  const full = Math.max(1, Math.floor(data.train.n / config.batch));
  const size = Math.min(config.batch, data.train.n);
  const step = (s: number) => {
    const batch = builder.build(order, (s % full) * config.batch, size, model.inputForm);
    try {
      model.step(batch, host.due(s, config.every) ? host : null, { step: s, epoch: 1, batchSize: size });
    } finally {
      disposeBatch(batch);
    }
  };
  for (let s = 0; s < TIMED_STEPS; s++) step(s);
  const t0 = performance.now();
  for (let s = TIMED_STEPS; s < 2 * TIMED_STEPS; s++) step(s);
  return (performance.now() - t0) / TIMED_STEPS;
}
