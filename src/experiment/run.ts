/**
 * `runExperiment`: train one combination with probes, writing its trace as it goes.
 *
 *   validate config → pick backend → load data → open trace (refuses to overwrite)
 *   → for each epoch: shuffle, steps (probes on scheduled steps, one readback each),
 *     evaluate on the test set, checkpoint the trace → close with status.
 */
import { join, resolve } from 'node:path';
import { resolveConfig, runName, checkRunName, configHash, Intervention, OUT_BIAS_SHIFT, trainedActivations, type RunConfig, type RunInput } from '../config.js';
import type { TrainedActivation } from '../activations/index.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { checkOptions, optionKeys } from '../options.js';
import { ensureWritableDir } from '../fs-util.js';
import { resolveProbes } from '../probes/registry.js';
import { ProbeHost } from '../probes/host.js';
import type { LayerInfo } from '../probes/probe.js';
import { processFacts, TraceRecorder, type Halt, type LayerFigure } from '../trace/recorder.js';
import { existingTrace } from '../trace/existing.js';
import { RunStatus, type Divergence, type RuleEvent, type RunFacts } from '../trace/schema.js';
import type { Trace } from '../trace/reader.js';
import { summarizeTrace } from '../trace/summary.js';
import { packageVersion } from '../versions.js';
import { selectBackend, type BackendChoice, type BackendInfo } from '../train/backend.js';
import { loadDataset, type Dataset } from '../train/data.js';
import { memoryNeed } from '../train/budget.js';
import { evaluateDiagnosed } from './evaluate.js';
import { DIAGNOSIS_METRICS } from '../study/diagnosis.js';
import { DIAGNOSIS_PROBE } from '../trace/metrics.js';
import { BatchBuilder, disposeBatch } from '../train/batch.js';
import { Mlp } from '../train/engine.js';
import { kernelSet } from '../train/kernels/products.js';
import { fusedActivation } from '../train/kernels/fused.js';
import { initParams, type LayerParams } from '../train/model.js';
import { permutation, rng } from '../train/rng.js';

export interface EpochSummary {
  readonly epoch: number;
  readonly steps: number;
  readonly trainLoss: number;
  readonly testLoss: number;
  readonly testAcc: number;
  readonly seconds: number;
  readonly probeSeconds: number;
  readonly writeSeconds: number;
}

export interface StepProgress {
  readonly epoch: number;
  /** 1-based within the epoch */
  readonly stepInEpoch: number;
  readonly stepsPerEpoch: number;
  readonly loss: number;
}

/** Progress callbacks, in the order tfjs names its own. */
export interface RunListener {
  /** `path`: where the trace is written; `replaces`: the older trace it replaces once finished */
  onRunBegin?(info: {
    readonly run: string; readonly path: string; readonly replaces: string | null; readonly backend: BackendInfo; readonly config: RunConfig; readonly facts: RunFacts; readonly besides?: string | null;
    /** set when the run goes on from an unfinished trace's last checkpoint; `kernelsBefore`: the kernels its steps so far ran with */
    readonly resumed?: { readonly step: number; readonly epoch: number; readonly stepInEpoch: number; readonly kernelsBefore: string | null } | null;
    /** why an unfinished trace of these settings could not be resumed (the run starts over and replaces it once finished) */
    readonly notResumed?: string | null;
  }): void;
  onEpochBegin?(epoch: number, steps: number): void;
  /** a rule of the run fired (warn or stop; a stop ends the run after this step) */
  onPathology?(e: RuleEvent): void;
  onStepEnd?(p: StepProgress): void;
  /** after the epoch's checkpoint; a returned promise holds the run until it settles */
  onEpochEnd?(e: EpochSummary): void | Promise<void>;
}

export interface RunOptions {
  /** folder for the trace (created if missing); default `runs` */
  readonly out?: string;
  /** replace an existing trace */
  readonly force?: boolean;
  /** aborting stops after the current step and closes the trace as interrupted */
  readonly signal?: AbortSignal;
  readonly listener?: RunListener;
  /** seconds between checkpoints within an epoch (every epoch end is one too); default 10 */
  readonly checkpointSeconds?: number;
  /** an already loaded dataset (sweeps load once) */
  readonly dataset?: Dataset;
  /** the caller holds the run's lock already (sweep workers); otherwise the run takes it */
  readonly locked?: boolean;
  /**
   * When the trace's path holds this combination and seed made with other settings: `refuse`
   * (the default, and a sweep's rule) or `rename`: this run is named `<run>_<first 8 hex digits of
   * its config hash>`, the same name for the same settings, and the other trace stays as it is
   * (`probe run`, so that run → report → run with other settings → report just works). `force`
   * replaces the other trace instead.
   */
  readonly otherSettings?: 'refuse' | 'rename';
  /** the trace's run name (file `<out>/<name>.arrow`); default `<combo>_s<seed>` (runName) */
  readonly name?: string;
}

/** Every option of {@link RunOptions}: anything else is refused with the nearest of these. */
export const RUN_OPTION_KEYS = optionKeys<RunOptions>({
  out: 1, force: 1, signal: 1, listener: 1, checkpointSeconds: 1, dataset: 1, locked: 1, otherSettings: 1, name: 1,
});

export type { LayerFigure };

export interface RunResult {
  readonly run: string;
  readonly path: string;
  readonly status: RunStatus;
  readonly config: RunConfig;
  readonly configHash: string;
  readonly backend: string;
  readonly steps: number;
  readonly epochs: readonly EpochSummary[];
  /** each per-step value as last measured (probes keep their own schedules) */
  readonly last: readonly LayerFigure[];
  readonly seconds: number;
  readonly probeOverhead: number;
  readonly writeOverhead: number;
  /** set when status is `diverged` */
  readonly diverged: Divergence | null;
  /** the step this process went on from, when it resumed an unfinished trace; null when it ran from step 0 */
  readonly resumedFrom: number | null;
  /** set when status is `stopped`: the rule that stopped it */
  readonly stopped: RuleEvent | null;
  /** every rule that fired (warn or stop), in order */
  readonly rules: readonly RuleEvent[];
}

/** float32's largest finite value: a sum of squares above it overflows in every backend's kernels. */
const F32_MAX = 3.4028234663852886e38;

/**
 * The first parameter that is not a finite number, as `layer L W|b holds value`, or whose norm is
 * beyond float32 (‖W‖ > 1.8e19: its square overflows, the gradients probe's ratio with it, and
 * the backends then part ways on what the overflow becomes), or null.
 */
function nonFinite(model: Mlp): string | null {
  // read in place: ~110 checks a 10-epoch run (every window of steps), each a copy of every weight before
  return model.withParamValues((layers) => {
    for (const [i, p] of layers.entries()) {
      for (const [name, xs] of [['W', p.w], ['b', p.b]] as const) {
        let ss = 0;
        for (let k = 0; k < xs.length; k++) {
          const x = xs[k];
          if (!Number.isFinite(x)) return `layer ${i + 1} ${name} holds ${x}`;
          ss += x * x;
        }
        if (ss > F32_MAX) return `layer ${i + 1} ${name} has a norm beyond float32 (${Math.sqrt(ss).toExponential(2)})`;
      }
    }
    return null;
  });
}

/**
 * PyTorch's initialization from the seed (the same weights whatever the activations), with the
 * `out-bias` intervention's shift of the output layer's biases.
 */
export function initialParams(sizes: readonly number[], acts: readonly TrainedActivation[], config: Pick<RunConfig, 'seed' | 'intervention'>): LayerParams[] {
  const params = initParams({ sizes, activations: acts }, config.seed);
  if (config.intervention === Intervention.outBias) {
    const b = params[params.length - 1].b;
    for (let i = 0; i < b.length; i++) b[i] += OUT_BIAS_SHIFT;
  }
  return params;
}

/** Train one combination from the settings a caller gives (validated; the rest take the study's values). */
export async function runExperiment(input: RunInput, opts: RunOptions = {}): Promise<RunResult> {
  checkOptions('runExperiment (options)', opts, RUN_OPTION_KEYS);
  return runResolved(resolveConfig(input, 'runExperiment'), opts);
}

/**
 * Train from settings already resolved by {@link resolveConfig}. A sweep plans them once and hands
 * them to its workers as they are: resolving a RunConfig again as if it were a RunInput would drop
 * its nested thresholds.
 */
export async function runResolved(config: RunConfig, opts: RunOptions = {}): Promise<RunResult> {
  checkOptions('runResolved (options)', opts, RUN_OPTION_KEYS);
  let run = opts.name === undefined ? runName(config) : checkRunName(opts.name);
  const outDir = resolve(opts.out ?? 'runs');
  let path = join(outDir, `${run}.arrow`);
  ensureWritableDir(outDir);
  // the same combination and seed with other settings already there: a name of its own
  let besides: string | null = null;
  if (opts.otherSettings === 'rename' && !opts.force && !opts.locked) {
    const hash = configHash(config), there = existingTrace(path, hash);
    if (there.kind === 'trace' && !there.sameConfig) {
      besides = path;
      run = `${run}_${hash.slice(0, 8)}`;
      path = join(outDir, `${run}.arrow`);
    }
  }
  return train(config, run, path, opts, besides);
}

/** Refuses a model that cannot be allocated, before allocating it (train/budget.ts). */
function checkModelFits(sizes: readonly number[], backend: string): void {
  let params = 0;
  for (let i = 0; i + 1 < sizes.length; i++) params += sizes[i] * sizes[i + 1] + sizes[i + 1];
  const m = memoryNeed(params, backend);
  if (!m.fits) throw new ProbeError(ErrorCode.config, msg.modelTooBig(sizes, params, m.need, m.limit, backend));
}

async function train(config: RunConfig, run: string, path: string, opts: RunOptions, besides: string | null): Promise<RunResult> {
  const data = opts.dataset ?? loadDataset({ dataset: config.dataset, dataDir: config.dataDir, trainLimit: config.trainLimit, testLimit: config.testLimit });
  const sizes = [data.train.dim, ...config.hidden, data.classes];
  checkModelFits(sizes, config.backend);
  // the combination's activations, with an intervention's on the output layer
  const acts = trainedActivations(config);
  const layers: LayerInfo[] = acts.map((activation, i) => ({
    layer: i + 1, activation, fanIn: sizes[i], fanOut: sizes[i + 1], isOutput: i === acts.length - 1,
  }));
  const makeHost = () => new ProbeHost(resolveProbes(config.probes), layers, config.thresholds);
  const host = makeHost();
  const bnFlags = layers.map((l) => config.bn === 'all' || (config.bn === 'last' && l.isOutput));
  const stepsPerEpoch = Math.ceil(data.train.n / config.batch);
  const builder = new BatchBuilder(data.train, data.lut, data.lutOffset, data.classes);
  const hash = configHash(config);
  // what a resumed run needs beyond the rows: the model, and the loop's place in its epoch
  let model: Mlp | null = null;
  const loop = { lossSum: 0, stepsThisEpoch: 0, gradRef: [] as readonly number[] };
  let facts: RunFacts | null = null;
  // taken before the backend is chosen: the run's lock also covers reading what it resumes from
  const recorder = new TraceRecorder({
    path, run, force: opts.force ?? false, slots: host.slots, lock: !opts.locked,
    extra: { [DIAGNOSIS_PROBE]: DIAGNOSIS_METRICS },
    checkpointSeconds: opts.checkpointSeconds,
    rules: { rules: config.rules, outputLayer: layers.length, onPathology: (e) => opts.listener?.onPathology?.(e) },
    config: () => ({ ...config, configHash: hash }),
    facts: () => facts as RunFacts,
    resumable: {
      configHash: hash,
      loop: () => ({
        scalars: { 'loop.lossSum': loop.lossSum, 'loop.stepsThisEpoch': loop.stepsThisEpoch, 'loop.gradRef': [...loop.gradRef] },
        arrays: (model as Mlp).state().map((a) => ({ name: `model.${a.name}`, values: a.values })),
      }),
    },
  });
  let backend: BackendInfo;
  let resume: ReturnType<TraceRecorder['resumeState']> = { why: 'replaced (force)' };
  try {
    if (!opts.force) resume = recorder.resumeState();
    const from = 'state' in resume ? resume : null;
    // the steps to come run where the steps so far ran: auto does not choose again
    if (from && config.backend !== 'auto' && config.backend !== from.state.backend) {
      throw new ProbeError(ErrorCode.config, msg.resumeBackend(path, from.state.backend, config.backend));
    }
    // auto times this very step on each fast backend (cached per machine), see calibrate.ts
    backend = await selectBackend(from ? (from.state.backend as BackendChoice) : config.backend, {
      sizes, activations: acts, batch: config.batch, engine: config.engine, bn: bnFlags, input: builder,
      // most steps of a run sampling `--every N > 1` compute no probes
      // a typical probed step: the probes on their own sparser schedules (distribution) are not due
      hooks: () => {
        if (host.slots.length === 0 || config.every !== 1) return null;
        const h = makeHost();
        h.due(1, 1);
        return h;
      },
    });
    const kernels = kernelSet();
    const resumedStep = from ? Number(from.state.scalars['recorder.stepsDone']) : null;
    facts = {
      run,
      combo: config.combo,
      seed: config.seed,
      backend: backend.name,
      ...(backend.calibration ? { backendCalibration: backend.calibration } : {}),
      engine: config.engine,
      kernels,
      fusedActivations: acts.some(fusedActivation),
      sparseInput: Mlp.inputFormFor(acts, config.engine, bnFlags, builder.inputProfile()) === 'sparse',
      ...processFacts({
        backend: (backend.name === 'node' ? packageVersion('@tensorflow/tfjs-node') : backend.name === 'wasm' ? packageVersion('@tensorflow/tfjs-backend-wasm') : packageVersion('@tensorflow/tfjs-backend-cpu')) ?? 'unknown',
      }),
      dataset: { name: data.name, source: data.source, trainSize: data.train.n, testSize: data.test.n },
      layers: layers.map(({ layer, activation, fanIn, fanOut }) => ({ layer, activation, fanIn, fanOut })),
      stepsPerEpoch,
      ...(from ? {
        // the run started when it first did; each resumption is listed
        startedAt: from.old.facts.startedAt,
        resumed: [...(from.old.facts.resumed ?? []), { step: resumedStep as number, at: new Date().toISOString(), backend: backend.name, kernels }],
      } : {}),
    };
    recorder.setStepsPerEpoch(stepsPerEpoch);
    // a mostly-background input (MNIST) goes to the input layer as its nonzeros (train/kernels/sparse.ts)
    model = new Mlp({ sizes, activations: acts }, initialParams(sizes, acts, config), { lr: config.lr, momentum: config.momentum }, config.engine, bnFlags, builder.inputProfile());
    if (from) {
      const sc = from.state.scalars;
      model.loadState(from.state.arrays.filter((a) => a.name.startsWith('model.')).map((a) => ({ name: a.name.slice('model.'.length), values: a.values as Float32Array })));
      recorder.resumeFrom(from.old, from.state);
      loop.gradRef = sc['loop.gradRef'] as number[];
      // a state written at an epoch's end starts the next epoch afresh
      if (recorder.position.stepInEpoch > 0) {
        loop.lossSum = sc['loop.lossSum'] as number;
        loop.stepsThisEpoch = sc['loop.stepsThisEpoch'] as number;
      }
    } else {
      recorder.open();
    }
  } catch (e) {
    model?.dispose();
    if (recorder.opened) recorder.close(RunStatus.failed);
    else recorder.abandon();
    throw e;
  }
  const from = 'state' in resume ? resume : null;
  const epochs: EpochSummary[] = from ? earlierEpochs(from.old, recorder.position.epochsDone, stepsPerEpoch) : [];
  let status: RunStatus = RunStatus.running;
  opts.listener?.onRunBegin?.({
    run, path: recorder.file, replaces: recorder.file !== path ? path : null, backend, config, facts, besides,
    resumed: from ? { step: recorder.steps, epoch: recorder.position.epochsDone + 1, stepInEpoch: recorder.position.stepInEpoch, kernelsBefore: from.old.facts.kernels ?? null } : null,
    notResumed: !from && recorder.file !== path && 'why' in resume && resume.why !== 'no unfinished trace of these settings' && resume.why !== 'replaced (force)' ? resume.why : null,
  });

  const paramsCheck = () => nonFinite(model as Mlp);
  let lastYield = performance.now();
  try {
    if (!from) {
      // before training: the reference sizes of the per-input gradients, and the diagnosis at step 0
      const initial = evaluateDiagnosed(model, data, config.thresholds, null);
      loop.gradRef = initial.diagnosis.gradMeans;
      recorder.writeExtra(DIAGNOSIS_PROBE, 0, 0, initial.diagnosis.rows);
    }
    const firstEpoch = recorder.position.epochsDone + 1, firstStep = recorder.position.stepInEpoch;
    for (let epoch = firstEpoch; epoch <= config.epochs && status === RunStatus.running && !recorder.halted; epoch++) {
      const t0 = performance.now();
      if (epoch > firstEpoch || firstStep === 0) { loop.lossSum = 0; loop.stepsThisEpoch = 0; }
      const order = permutation(data.train.n, rng(config.seed, 'shuffle', epoch));
      opts.listener?.onEpochBegin?.(epoch, stepsPerEpoch);
      for (let s = epoch === firstEpoch ? firstStep : 0; s < stepsPerEpoch && !recorder.halted; s++) {
        if (opts.signal?.aborted) {
          status = RunStatus.interrupted;
          break;
        }
        const step = recorder.steps;
        const start = s * config.batch;
        const size = Math.min(config.batch, data.train.n - start);
        const batch = builder.build(order, start, size, model.inputForm);
        const probed = host.due(step, config.every);
        const values = model.step(batch, probed ? host : null, { step, epoch, batchSize: size });
        disposeBatch(batch);
        loop.lossSum += values[0];
        loop.stepsThisEpoch++;
        if (probed) recorder.record(step, epoch, values, host.activeSlots);
        else recorder.loss(step, values[0]);
        opts.listener?.onStepEnd?.({ epoch, stepInEpoch: s + 1, stepsPerEpoch, loss: values[0] });
        recorder.stepDone(epoch, paramsCheck);
        // let signal handlers and timers run now and then
        if (performance.now() - lastYield > 50) {
          await new Promise((r) => setImmediate(r));
          lastYield = performance.now();
        }
      }
      if (status === RunStatus.running && !recorder.halted) {
        const bad = nonFinite(model);
        if (bad) recorder.diverge(recorder.steps - 1, bad);
      }
      const probeMs = host.computeMs;
      host.computeMs = 0;
      // a stopped run is evaluated where it stopped (its last epoch cut short); a diverged one is not
      // (read afresh: TypeScript takes the loop's condition to hold for the getter still)
      const halt = recorder.halted as Halt | null;
      if (status !== RunStatus.running || halt?.status === RunStatus.diverged) {
        recorder.addWall((performance.now() - t0) / 1000); // the unfinished epoch's time still counts
        break;
      }
      const ev = evaluateDiagnosed(model, data, config.thresholds, loop.gradRef);
      recorder.writeExtra(DIAGNOSIS_PROBE, recorder.steps, epoch, ev.diagnosis.rows);
      const seconds = (performance.now() - t0) / 1000;
      const trainLoss = loop.lossSum / loop.stepsThisEpoch;
      const writeSeconds = recorder.endEpoch(epoch, { testLoss: ev.loss, testAcc: ev.acc, trainLoss }, seconds, probeMs / 1000, ev.diagnosis.rows);
      const e: EpochSummary = {
        epoch, steps: loop.stepsThisEpoch, trainLoss, testLoss: ev.loss, testAcc: ev.acc,
        seconds, probeSeconds: probeMs / 1000, writeSeconds,
      };
      epochs.push(e);
      await opts.listener?.onEpochEnd?.(e);
    }
    if (status === RunStatus.running) status = RunStatus.complete;
  } catch (e) {
    status = RunStatus.failed;
    throw e;
  } finally {
    status = recorder.close(status);
    model.dispose();
  }
  const o = recorder.overheads;
  const result: RunResult = {
    run, path: recorder.file, status, config, configHash: hash, backend: backend.name, steps: recorder.steps, epochs,
    last: recorder.lastFigures(),
    seconds: o.seconds,
    probeOverhead: o.probe,
    writeOverhead: o.write,
    diverged: recorder.divergence,
    stopped: recorder.stoppedBy,
    rules: recorder.ruleEvents,
    resumedFrom: from ? (facts.resumed ?? []).at(-1)?.step ?? null : null,
  };
  if (status === RunStatus.interrupted) {
    throw Object.assign(new ProbeError(ErrorCode.interrupted, msg.interrupted(recorder.file, recorder.steps, recorder.file !== path ? path : null, true)), { result });
  }
  return result;
}

/** The epochs an unfinished trace finished before it was resumed, as a run's summary lists them. */
function earlierEpochs(old: Trace, epochsDone: number, stepsPerEpoch: number): EpochSummary[] {
  return summarizeTrace(old).epochs.filter((e) => e.epoch >= 1 && e.epoch <= epochsDone).map((e) => ({
    epoch: e.epoch, steps: stepsPerEpoch, trainLoss: e.trainLoss ?? NaN, testLoss: e.testLoss ?? NaN, testAcc: e.testAcc ?? NaN,
    seconds: e.seconds ?? NaN, probeSeconds: e.probeSeconds ?? NaN, writeSeconds: NaN,
  }));
}
