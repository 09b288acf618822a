/**
 * `runModel`: `probe run --model DIR/model.json` — train a model saved in the TensorFlow.js layers
 * format on a dataset with `model.fit`-style training (tfjs-layers' own `fitDataset`), probes
 * attached, the study's optimizer and loss.
 *
 *   settings → backend → model file → dataset → match input/output shapes → weights (file, or
 *   drawn from --seed) → compile (SGD with momentum; cross-entropy of softmax over the outputs)
 *   → a trial gradient (finds kernels the backend lacks) → attach → one fitDataset per epoch,
 *   batches in the engine's order → close.
 */
import { basename, dirname } from 'node:path';
import tf from '../tf-layers.cjs';
import { checkRunName, resolveConfig, runName, type RunInput } from '../config.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { checkOptions, optionKeys } from '../options.js';
import { RUN_INPUT_KEYS } from '../config.js';
import { selectBackend, type BackendInfo, type BackendName } from '../train/backend.js';
import type { RigWorkload } from '../train/calibrate.js';
import { loadDataset, type Dataset } from '../train/data.js';
import { permutation, rng } from '../train/rng.js';
import { RunStatus, type Divergence, type RuleEvent } from '../trace/schema.js';
import type { LayerFigure } from '../trace/recorder.js';
import { attachProbes, logValue } from './session.js';
import { buildModel, readModelSource } from './model-file.js';
import { InputBatches, matchInput } from './model-input.js';
import type { PlannedLayer, UnprobedLayer } from './layer-plan.js';

/** `probe run`'s settings, with `model` instead of a combination (`hidden`, `bn`, `engine` do not apply). */
export type ModelRunInput = Omit<RunInput, 'combo' | 'hidden' | 'bn' | 'engine'> & { readonly model: string };

export interface ModelRunOptions {
  readonly out?: string;
  /** the trace's run name; default `<model folder>_s<seed>` */
  readonly name?: string;
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  readonly listener?: ModelRunListener;
}

export interface ModelEpoch {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly testLoss: number;
  readonly testAcc: number;
  readonly seconds: number;
}

export interface ModelRunListener {
  onRunBegin?(info: { readonly run: string; readonly path: string; readonly backend: BackendInfo; readonly weights: 'file' | 'fresh'; readonly layers: readonly PlannedLayer[]; readonly unprobed: readonly UnprobedLayer[]; readonly epochs: number; readonly stepsPerEpoch: number; readonly batch: number }): void;
  onStepEnd?(p: { readonly epoch: number; readonly stepInEpoch: number; readonly stepsPerEpoch: number; readonly loss: number }): void;
  onEpochEnd?(e: ModelEpoch): void;
  /** a rule of the run fired (warn or stop) */
  onPathology?(e: RuleEvent): void;
}

export interface ModelRunResult {
  readonly run: string;
  readonly path: string;
  readonly status: RunStatus;
  readonly backend: string;
  readonly steps: number;
  readonly epochs: readonly ModelEpoch[];
  readonly layers: readonly Omit<PlannedLayer, 'tfLayer'>[];
  readonly unprobed: readonly UnprobedLayer[];
  /** each per-step value as last measured (probes keep their own schedules; values never measured are left out) */
  readonly last: readonly LayerFigure[];
  /** set when status is `diverged`: the step at which it was seen, and what was not finite */
  readonly diverged: Divergence | null;
  /** set when status is `stopped`: the rule that stopped it */
  readonly stopped: RuleEvent | null;
  /** every rule that fired (warn or stop), in order */
  readonly rules: readonly RuleEvent[];
}

/** The loss the study uses: cross-entropy of softmax over the output layer's activations. */
function lossFor(model: tf.LayersModel): { name: string; fn: (y: tf.Tensor, p: tf.Tensor) => tf.Tensor } {
  const last = model.outputs[0].sourceLayer as unknown as { activation?: { getClassName(): string } };
  if (last.activation?.getClassName() === 'softmax') return { name: 'categorical cross-entropy (the output layer is a softmax)', fn: (y, p) => tf.metrics.categoricalCrossentropy(y, p) };
  return { name: "cross-entropy of log-softmax over the outputs (the study's)", fn: (y, p) => tf.losses.softmaxCrossEntropy(y, p) };
}

/**
 * Weights drawn as probe draws the study's (PyTorch's default for Linear and ConvNd: uniform in
 * ±1/√fan_in for kernels and biases), from the seed, so a topology-only model starts the same on
 * every backend. Other variables keep their layer's initializer (constants for batch norm).
 */
function drawWeights(model: tf.LayersModel, seed: number): void {
  let k = 0;
  for (const layer of model.layers) {
    const kernel = layer.trainableWeights.find((w) => /kernel$/.test(w.originalName));
    if (!kernel) continue;
    const ks = kernel.shape.map((d) => d ?? 1);
    const fanIn = ks.slice(0, -1).reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    for (const w of layer.trainableWeights) {
      if (!/(kernel|bias)$/.test(w.originalName)) continue;
      const r = rng(seed, 'init', k++);
      const n = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
      const v = Float32Array.from({ length: n }, () => (2 * r.float() - 1) * bound);
      const t = tf.tensor(v, w.shape.map((d) => d ?? 1));
      w.write(t);
      t.dispose();
    }
  }
}

/** A missing gradient kernel (wasm 4.22 has no Conv2DBackpropFilter) shows at the first backward pass. */
function missingKernel(model: tf.LayersModel, loss: (y: tf.Tensor, p: tf.Tensor) => tf.Tensor, batches: InputBatches): string | null {
  const { xs, ys } = batches.build([0, 1], 0, 2);
  try {
    const { value, grads } = tf.variableGrads(() => tf.mean(loss(ys, model.apply(xs, { training: true }) as tf.Tensor)) as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
    return null;
  } catch (e) {
    const m = /Kernel '(\w+)' not registered/.exec((e as Error).message);
    if (m) return m[1];
    throw e;
  } finally {
    tf.dispose([xs, ys]);
  }
}

const MODEL_RUN_INPUT_KEYS = [...RUN_INPUT_KEYS.filter((k) => !['combo', 'hidden', 'bn', 'engine'].includes(k)), 'model'];
const MODEL_RUN_OPTION_KEYS = optionKeys<ModelRunOptions>({ out: 1, name: 1, force: 1, signal: 1, listener: 1 });

export async function runModel(input: ModelRunInput, opts: ModelRunOptions = {}): Promise<ModelRunResult> {
  checkOptions('runModel', input, MODEL_RUN_INPUT_KEYS);
  checkOptions('runModel (options)', opts, MODEL_RUN_OPTION_KEYS);
  // the shared flags, validated by the same code and messages as `probe run <combo>`
  const { model: _m, ...settings } = input;
  void _m;
  const cfg = resolveConfig({ ...settings, combo: 'relu-relu-relu' }, 'runModel');
  const stem = basename(dirname(input.model)) || 'model';
  const data: Dataset = loadDataset({ dataset: cfg.dataset, dataDir: cfg.dataDir, trainLimit: cfg.trainLimit, testLimit: cfg.testLimit });
  // read and checked once (paths, sizes, the parameter budget), before any backend is tried
  const source = readModelSource(input.model, { backend: cfg.backend });
  const load = async () => {
    const loaded = await buildModel(source);
    const m = loaded.model;
    if (m.inputs.length !== 1 || m.outputs.length !== 1) throw new ProbeError(ErrorCode.config, msg.notLayersModel(input.model, `it has ${m.inputs.length} inputs and ${m.outputs.length} outputs; probe trains models with one of each`));
    const layout = matchInput(input.model, m.inputs[0].shape, data);
    const outShape = m.outputs[0].shape;
    if (outShape.length !== 2 || outShape[1] !== data.classes) {
      throw new ProbeError(ErrorCode.config, msg.modelOutputMismatch(input.model, `[${outShape.slice(1).map((v) => v ?? '?').join(',')}]`, data.name, data.classes));
    }
    if (loaded.weights === 'fresh') drawWeights(m, cfg.seed);
    const loss = lossFor(m);
    m.compile({ optimizer: tf.train.momentum(cfg.lr, cfg.momentum), loss: loss.fn, metrics: ['accuracy'] });
    return { ...loaded, layout, loss, batches: new InputBatches(data.train, data, layout, cfg.batch) };
  };
  // Under `auto`, the backend is chosen by timing this model's own training step on each (as
  // for probe's MLP, see train/calibrate.ts), cached per machine, software and model topology.
  const rigWorkload: RigWorkload = {
    key: { model: source.digest, dataset: cfg.dataset, batch: cfg.batch },
    rig: async () => {
      const r = await load();
      const { xs, ys } = r.batches.build(Uint32Array.from({ length: Math.min(cfg.batch, data.train.n) }, (_, i) => i), 0, Math.min(cfg.batch, data.train.n));
      return {
        step: async () => { await r.model.trainOnBatch(xs, ys); },
        dispose: () => { tf.dispose([xs, ys]); r.model.dispose(); },
      };
    },
  };
  let backend = await selectBackend(cfg.backend, rigWorkload);
  let l = await load();
  const missing = missingKernel(l.model, l.loss.fn, l.batches);
  if (missing) {
    if (cfg.backend !== 'auto' || backend.name === 'cpu') throw new ProbeError(ErrorCode.backend, msg.backendLacksKernel(backend.name, missing));
    l.model.dispose();
    const skipped = [...backend.skipped, { name: backend.name as BackendName, why: `no ${missing} kernel, which training this model needs` }];
    backend = { ...(await selectBackend('cpu')), skipped };
    l = await load();
  }
  const { model, layout, loss, batches } = l;
  const run = opts.name === undefined ? runName({ combo: stem, seed: cfg.seed, dataset: cfg.dataset }) : checkRunName(opts.name);
  const stepsPerEpoch = Math.ceil(data.train.n / cfg.batch);
  const session = attachProbes(model, {
    out: opts.out ?? 'runs',
    name: run,
    force: opts.force,
    probes: cfg.probes,
    every: cfg.every,
    thresholds: cfg.thresholds,
    seed: cfg.seed,
    rules: cfg.rules,
    ...(opts.listener?.onPathology ? { onPathology: opts.listener.onPathology } : {}),
    stepsPerEpoch,
    dataset: { name: data.name, source: data.source, trainSize: data.train.n, testSize: data.test.n },
    ...(backend.calibration ? { backendCalibration: backend.calibration } : {}),
    config: {
      source: 'model-file', modelFile: input.model, weights: l.weights, inputShape: [...layout.shape], loss: loss.name,
      dataset: cfg.dataset, dataDir: cfg.dataDir, trainLimit: cfg.trainLimit, testLimit: cfg.testLimit,
      epochs: cfg.epochs, batch: cfg.batch, lr: cfg.lr, momentum: cfg.momentum, seed: cfg.seed, backend: backend.name,
    },
  });
  opts.listener?.onRunBegin?.({ run, path: session.path, backend, weights: l.weights, layers: session.plan.layers, unprobed: session.plan.unprobed, epochs: cfg.epochs, stepsPerEpoch, batch: cfg.batch });
  const testAll = Uint32Array.from({ length: data.test.n }, (_, i) => i);
  const test = new InputBatches(data.test, { ...data, train: data.test }, layout, data.test.n).build(testAll, 0, data.test.n);
  const epochs: ModelEpoch[] = [];
  // set from the callbacks too: TypeScript cannot see that, hence the widening reads below
  let status = RunStatus.running as RunStatus;
  try {
    for (let epoch = 1; epoch <= cfg.epochs && status === RunStatus.running && !session.halted; epoch++) {
      const order = permutation(data.train.n, rng(cfg.seed, 'shuffle', epoch));
      const t0 = performance.now();
      const ds = tf.data.generator(function* () {
        for (let s = 0; s < stepsPerEpoch; s++) {
          const start = s * cfg.batch;
          yield batches.build(order, start, Math.min(cfg.batch, data.train.n - start));
        }
      });
      let step = 0;
      const progress = new (class extends tf.Callback {
        override async onBatchEnd(_b: number, logs?: tf.Logs): Promise<void> {
          step++;
          if (opts.listener?.onStepEnd) opts.listener.onStepEnd({ epoch, stepInEpoch: step, stepsPerEpoch, loss: logValue(logs, 'loss') ?? NaN });
          if (opts.signal?.aborted) {
            model.stopTraining = true;
            status = RunStatus.interrupted;
          }
        }
        override async onEpochEnd(_e: number, logs?: tf.Logs): Promise<void> {
          const n = (k: string) => logValue(logs, k) ?? NaN;
          const e = { epoch, trainLoss: n('loss'), testLoss: n('val_loss'), testAcc: logValue(logs, 'val_acc') ?? n('val_accuracy'), seconds: (performance.now() - t0) / 1000 };
          epochs.push(e);
          opts.listener?.onEpochEnd?.(e);
        }
      })();
      await model.fitDataset(ds as unknown as tf.data.Dataset<tf.TensorContainer>, {
        epochs: epoch, initialEpoch: epoch - 1, batchesPerEpoch: stepsPerEpoch, verbose: 0,
        validationData: [test.xs, test.ys], callbacks: [session.callback, progress],
      });
    }
    if (status === RunStatus.running) status = RunStatus.complete;
  } catch (e) {
    status = RunStatus.failed;
    throw e;
  } finally {
    status = session.close(status);
    tf.dispose([test.xs, test.ys]);
    model.dispose();
  }
  const result: ModelRunResult = {
    run, path: session.path, status, backend: backend.name, steps: session.step, epochs,
    layers: session.plan.layers.map(({ tfLayer: _t, ...rest }) => rest),
    unprobed: session.plan.unprobed,
    last: session.lastFigures(),
    diverged: session.divergence,
    stopped: session.stoppedBy,
    rules: session.ruleEvents,
  };
  if (status === RunStatus.interrupted) {
    throw Object.assign(new ProbeError(ErrorCode.interrupted, msg.interrupted(session.path, session.step)), { result });
  }
  return result;
}
