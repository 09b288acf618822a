/**
 * `runExperiment`: train one combination with probes, writing its trace as it goes.
 *
 *   validate config → pick backend → load data → open trace (refuses to overwrite)
 *   → for each epoch: shuffle, steps (probes on scheduled steps, one readback each),
 *     evaluate on the test set, checkpoint the trace → close with status.
 */
import { cpus, platform, arch, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { resolveConfig, runName, configHash, type RunConfig, type RunInput } from '../config.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { ensureWritableDir } from '../fs-util.js';
import { resolveProbes } from '../probes/registry.js';
import { ProbeHost } from '../probes/host.js';
import type { LayerInfo } from '../probes/probe.js';
import { TraceWriter } from '../trace/writer.js';
import { existingTrace } from '../trace/existing.js';
import { acquireRunLock, type RunLock } from '../trace/run-lock.js';
import { EVAL_METRICS, MetaKey, RunProbe, RunStatus, TIMING_METRICS, type Divergence, type FinalFigures, type RunFacts, type RunProgress } from '../trace/schema.js';
import { packageVersion, probeVersion } from '../versions.js';
import { selectBackend, type BackendInfo } from '../train/backend.js';
import { loadDataset, type Dataset } from '../train/data.js';
import { evaluateDiagnosed } from './evaluate.js';
import { DIAGNOSIS_METRICS } from '../study/diagnosis.js';
import { DIAGNOSIS_PROBE, UNIT_WINDOWS_PER_EPOCH } from '../trace/metrics.js';
import { BatchBuilder, disposeBatch } from '../train/batch.js';
import { Mlp } from '../train/engine.js';
import { kernelSet } from '../train/kernels/products.js';
import { fusedActivation } from '../train/kernels/fused.js';
import { initParams } from '../train/model.js';
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
  onRunBegin?(info: { readonly run: string; readonly path: string; readonly replaces: string | null; readonly backend: BackendInfo; readonly config: RunConfig; readonly facts: RunFacts; readonly besides?: string | null }): void;
  onEpochBegin?(epoch: number, steps: number): void;
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
}

export interface LayerFigure {
  readonly layer: number;
  readonly probe: string;
  readonly metric: string;
  readonly value: number;
}

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
}

/** The first parameter that is not a finite number, as `layer L W|b = value`, or null. */
function nonFinite(model: Mlp): string | null {
  for (const [i, p] of model.params().entries()) {
    for (const [name, xs] of [['W', p.w], ['b', p.b]] as const) {
      for (let k = 0; k < xs.length; k++) if (!Number.isFinite(xs[k])) return `layer ${i + 1} ${name} holds ${xs[k]}`;
    }
  }
  return null;
}

/** Train one combination from the settings a caller gives (validated; the rest take the study's values). */
export function runExperiment(input: RunInput, opts: RunOptions = {}): Promise<RunResult> {
  return runResolved(resolveConfig(input), opts);
}

/**
 * Train from settings already resolved by {@link resolveConfig}. A sweep plans them once and hands
 * them to its workers as they are: resolving a RunConfig again as if it were a RunInput would drop
 * its nested thresholds.
 */
export async function runResolved(config: RunConfig, opts: RunOptions = {}): Promise<RunResult> {
  let run = runName(config);
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
  const claim = opts.locked ? null : claimRun(path);
  try {
    return await train(config, run, path, opts, besides);
  } finally {
    claim?.release();
  }
}

/**
 * Refuses a model that cannot be allocated, before allocating it (a huge --hidden otherwise ends
 * in a RangeError or the OOM killer): each parameter lives about five times as float32 (initial
 * values, weights, momentum, gradient, update), and wasm addresses at most 4 GiB.
 */
function checkModelFits(sizes: readonly number[], backend: string): void {
  let params = 0;
  for (let i = 0; i + 1 < sizes.length; i++) params += sizes[i] * sizes[i + 1] + sizes[i + 1];
  const need = params * 4 * 5;
  // auto may pick wasm, by timing a step of this very model: check before that
  const limit = Math.min(totalmem(), backend === 'wasm' || backend === 'auto' ? 2 ** 32 : Infinity);
  if (need > limit) throw new ProbeError(ErrorCode.config, msg.modelTooBig(sizes, params, need, limit, backend));
}

/** Takes the run's lock (run-lock.ts), or says who holds it. */
function claimRun(path: string): RunLock {
  let attempt;
  try {
    attempt = acquireRunLock(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new ProbeError(ErrorCode.io, msg.outDirNotWritable(dirname(path), code), { cause });
  }
  if (!attempt.acquired) {
    const h = attempt.holder;
    throw new ProbeError(ErrorCode.busy, msg.runBusy(path, h ? `pid ${h.pid} on ${h.host} (since ${h.startedAt})` : 'another process'));
  }
  return attempt.lock;
}

/** Whether the trace may be written: refuses what it must not replace, replaces what holds nothing. */
function mayReplace(path: string, hash: string, force: boolean): boolean {
  const existing = existingTrace(path, hash);
  switch (existing.kind) {
    case 'absent': return false;
    case 'unreadable': return true; // nothing in it to lose: an empty or damaged file is redone
    case 'foreign': throw new ProbeError(ErrorCode.exists, msg.notOurs(path, existing.why));
    case 'trace':
      if (!force) throw new ProbeError(ErrorCode.exists, msg.traceExists(path));
      return true;
  }
}

async function train(config: RunConfig, run: string, path: string, opts: RunOptions, besides: string | null): Promise<RunResult> {
  const replace = mayReplace(path, configHash(config), opts.force ?? false);
  const data = opts.dataset ?? loadDataset({ dataset: config.dataset, dataDir: config.dataDir, trainLimit: config.trainLimit, testLimit: config.testLimit });
  const sizes = [data.train.dim, ...config.hidden, data.classes];
  checkModelFits(sizes, config.backend);
  const layers: LayerInfo[] = config.activations.map((activation, i) => ({
    layer: i + 1, activation, fanIn: sizes[i], fanOut: sizes[i + 1], isOutput: i === config.activations.length - 1,
  }));
  const makeHost = () => new ProbeHost(resolveProbes(config.probes), layers, config.thresholds);
  const host = makeHost();
  const bnFlags = layers.map((l) => config.bn === 'all' || (config.bn === 'last' && l.isOutput));
  // auto times this very step on each fast backend (cached per machine), see calibrate.ts
  const backend = await selectBackend(config.backend, {
    sizes, activations: config.activations, batch: config.batch, engine: config.engine, bn: bnFlags,
    // most steps of a run sampling `--every N > 1` compute no probes
    // a typical probed step: the probes on their own sparser schedules (distribution) are not due
    hooks: () => {
      if (host.slots.length === 0 || config.every !== 1) return null;
      const h = makeHost();
      h.due(1, 1);
      return h;
    },
  });
  const stepsPerEpoch = Math.ceil(data.train.n / config.batch);
  const facts: RunFacts = {
    run,
    combo: config.combo,
    seed: config.seed,
    backend: backend.name,
    ...(backend.calibration ? { backendCalibration: backend.calibration } : {}),
    engine: config.engine,
    kernels: kernelSet(),
    fusedActivations: config.activations.some(fusedActivation),
    versions: {
      node: process.versions.node,
      probe: probeVersion(),
      '@tensorflow/tfjs': packageVersion('@tensorflow/tfjs') ?? 'unknown',
      backend: (backend.name === 'node' ? packageVersion('@tensorflow/tfjs-node') : backend.name === 'wasm' ? packageVersion('@tensorflow/tfjs-backend-wasm') : packageVersion('@tensorflow/tfjs-backend-cpu')) ?? 'unknown',
      'apache-arrow': packageVersion('apache-arrow') ?? 'unknown',
    },
    startedAt: new Date().toISOString(),
    host: { platform: platform(), arch: arch(), cpus: cpus().length },
    dataset: { name: data.name, source: data.source, trainSize: data.train.n, testSize: data.test.n },
    layers: layers.map(({ layer, activation, fanIn, fanOut }) => ({ layer, activation, fanIn, fanOut })),
    stepsPerEpoch,
  };
  const probeNames = [...new Set([...host.slots.map((s) => s.probe), RunProbe.eval, RunProbe.timing, DIAGNOSIS_PROBE])];
  const evalMetrics = EVAL_METRICS;
  const timingMetrics = TIMING_METRICS;
  const metricNames = [...new Set([...host.slots.map((s) => s.metric), ...evalMetrics, ...timingMetrics, ...DIAGNOSIS_METRICS])];
  const stepSlots = host.slots.slice(0, host.stepSlots), windowSlots = host.slots.slice(host.stepSlots);
  const epochs: EpochSummary[] = [];
  let stepsDone = 0;
  let status: RunStatus = RunStatus.running;
  let probeTotal = 0, writeTotal = 0, wallTotal = 0;
  let final: FinalFigures | null = null;
  let diverged: Divergence | null = null;
  // per step slot: probes keep their own schedules, so each value has its own count of steps
  const slotSums = new Float64Array(stepSlots.length);
  const slotSteps = new Float64Array(stepSlots.length);
  const lastBySlot = new Float64Array(stepSlots.length);
  const seen = new Uint8Array(stepSlots.length);
  const progress = (): RunProgress => ({
    status,
    epochsDone: epochs.length,
    stepsDone,
    updatedAt: new Date().toISOString(),
    endedAt: status === RunStatus.running ? null : new Date().toISOString(),
    epochSeconds: epochs.map((e) => e.seconds),
    probeOverhead: wallTotal > 0 ? probeTotal / wallTotal : null,
    writeOverhead: wallTotal > 0 ? writeTotal / wallTotal : null,
    ...(final ? { final } : {}),
    ...(diverged ? { diverged } : {}),
  });
  // Training on from a non-finite loss or weights cannot recover: stop, and say so.
  const diverge = (step: number, reason: string) => {
    diverged = { step, reason };
    status = RunStatus.diverged;
  };
  const writer = TraceWriter.create(path, {
    run,
    probes: probeNames,
    metrics: metricNames,
    metadata: { [MetaKey.config]: { ...config, configHash: configHash(config) }, [MetaKey.facts]: facts },
  }, progress(), { force: replace });
  // one row layout per set of due probes (a handful: the schedules repeat)
  const layouts = new Map<string, { layers: Int8Array; probes: Int8Array; metrics: Int16Array }>();
  const layoutOf = (slots: readonly number[]) => {
    const key = slots.join(',');
    let l = layouts.get(key);
    if (!l) {
      const sl = slots.map((i) => host.slots[i]);
      l = { layers: Int8Array.from(sl, (s) => s.layer), probes: Int8Array.from(sl, (s) => writer.probeId(s.probe)), metrics: Int16Array.from(sl, (s) => writer.metricId(s.metric)) };
      layouts.set(key, l);
    }
    return l;
  };
  const windowLayout = {
    layers: Int8Array.from(windowSlots, (s) => s.layer),
    probes: Int8Array.from(windowSlots, (s) => writer.probeId(s.probe)),
    metrics: Int16Array.from(windowSlots, (s) => writer.metricId(s.metric)),
  };
  // windowed values (per-unit activity): mean over the probed steps of each window, one row per
  // value. Windowed probes follow --every (none has a schedule of its own), so one count serves all.
  const windowSteps = Math.max(1, Math.ceil(stepsPerEpoch / UNIT_WINDOWS_PER_EPOCH));
  const windowSums = new Float64Array(windowSlots.length);
  let windowCount = 0, windowStart = 0;
  const flushWindow = (epoch: number) => {
    if (windowCount === 0 || windowSlots.length === 0) return;
    const means = Float32Array.from(windowSums, (v) => v / windowCount);
    writer.appendMany(windowStart, epoch, windowLayout, means, 0);
    windowSums.fill(0);
    windowCount = 0;
  };
  const diagP = writer.probeId(DIAGNOSIS_PROBE);
  const writeDiagnosis = (step: number, epoch: number, rows: readonly { layer: number; metric: string; value: number }[]) => {
    for (const r of rows) writer.append(step, epoch, r.layer, diagP, writer.metricId(r.metric), r.value);
  };
  const evalIds = evalMetrics.map((m) => writer.metricId(m));
  const timingIds = timingMetrics.map((m) => writer.metricId(m));
  opts.listener?.onRunBegin?.({ run, path: writer.file, replaces: writer.file !== path ? path : null, backend, config, facts, besides });

  const model = new Mlp({ sizes, activations: config.activations }, initParams({ sizes, activations: config.activations }, config.seed), { lr: config.lr, momentum: config.momentum }, config.engine, bnFlags);
  const builder = new BatchBuilder(data.train, data.lut, data.lutOffset, data.classes);
  const checkpointMs = (opts.checkpointSeconds ?? 10) * 1000;
  let lastCheckpoint = performance.now();
  let lastYield = performance.now();
  try {
    // before training: the reference sizes of the per-input gradients, and the diagnosis at step 0
    const initial = evaluateDiagnosed(model, data, config.thresholds, null);
    const gradRef = initial.diagnosis.gradMeans;
    writeDiagnosis(0, 0, initial.diagnosis.rows);
    for (let epoch = 1; epoch <= config.epochs && status === RunStatus.running; epoch++) {
      const t0 = performance.now();
      let probeMs = 0, writeMs = 0, lossSum = 0, stepsThisEpoch = 0;
      slotSums.fill(0);
      slotSteps.fill(0);
      const order = permutation(data.train.n, rng(config.seed, 'shuffle', epoch));
      opts.listener?.onEpochBegin?.(epoch, stepsPerEpoch);
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (opts.signal?.aborted) {
          status = RunStatus.interrupted;
          break;
        }
        if (s % windowSteps === 0) { flushWindow(epoch); windowStart = stepsDone; }
        const start = s * config.batch;
        const size = Math.min(config.batch, data.train.n - start);
        const batch = builder.build(order, start, size);
        const probed = host.due(stepsDone, config.every);
        const info = { step: stepsDone, epoch, batchSize: size };
        const values = model.step(batch, probed ? host : null, info);
        disposeBatch(batch);
        lossSum += values[0];
        if (probed) {
          const tw = performance.now();
          // the due slots, ascending: this step's per-step values, then its windowed ones
          const slots = host.activeSlots;
          let nStep = 0;
          while (nStep < slots.length && slots[nStep] < stepSlots.length) nStep++;
          writer.appendMany(stepsDone, epoch, layoutOf(slots.slice(0, nStep)), values, 1);
          for (let k = 0; k < nStep; k++) {
            slotSums[slots[k]] += values[k + 1];
            slotSteps[slots[k]]++;
            lastBySlot[slots[k]] = values[k + 1];
            seen[slots[k]] = 1;
          }
          for (let k = nStep; k < slots.length; k++) windowSums[slots[k] - stepSlots.length] += values[k + 1];
          if (nStep < slots.length) windowCount++;
          writeMs += performance.now() - tw;
        }
        stepsDone++;
        stepsThisEpoch++;
        opts.listener?.onStepEnd?.({ epoch, stepInEpoch: s + 1, stepsPerEpoch, loss: values[0] });
        if (!Number.isFinite(values[0])) {
          diverge(stepsDone - 1, `loss ${values[0]}`);
          break;
        }
        if (performance.now() - lastCheckpoint > checkpointMs) {
          const tc = performance.now();
          const bad = nonFinite(model);
          if (bad) { diverge(stepsDone - 1, bad); break; }
          writer.checkpoint(progress());
          lastCheckpoint = performance.now();
          writeMs += lastCheckpoint - tc;
        }
        // let signal handlers and timers run now and then
        if (performance.now() - lastYield > 50) {
          await new Promise((r) => setImmediate(r));
          lastYield = performance.now();
        }
      }
      if (status !== RunStatus.running) {
        wallTotal += performance.now() - t0; // the unfinished epoch's time still counts
        break;
      }
      const bad = nonFinite(model);
      if (bad) { diverge(stepsDone - 1, bad); break; }
      flushWindow(epoch);
      probeMs = host.computeMs;
      host.computeMs = 0;
      const ev = evaluateDiagnosed(model, data, config.thresholds, gradRef);
      writeDiagnosis(stepsDone, epoch, ev.diagnosis.rows);
      const seconds = (performance.now() - t0) / 1000;
      const e: EpochSummary = {
        epoch, steps: stepsThisEpoch, trainLoss: lossSum / stepsThisEpoch, testLoss: ev.loss, testAcc: ev.acc,
        seconds, probeSeconds: probeMs / 1000, writeSeconds: writeMs / 1000,
      };
      const evalP = writer.probeId(RunProbe.eval), timingP = writer.probeId(RunProbe.timing);
      [e.testLoss, e.testAcc, e.trainLoss].forEach((v, i) => writer.append(stepsDone, epoch, 0, evalP, evalIds[i], v));
      [e.seconds, e.probeSeconds, e.writeSeconds].forEach((v, i) => writer.append(stepsDone, epoch, 0, timingP, timingIds[i], v));
      epochs.push(e);
      final = {
        epoch, testAcc: e.testAcc, testLoss: e.testLoss, trainLoss: e.trainLoss,
        means: Object.fromEntries(stepSlots.map((sl, k) => [`${sl.layer}/${sl.probe}/${sl.metric}`, slotSteps[k] ? slotSums[k] / slotSteps[k] : NaN])),
        diagnosis: Object.fromEntries(ev.diagnosis.rows.map((r) => [`${r.layer}/${r.metric}`, Number.isFinite(r.value) ? r.value : null])),
      };
      probeTotal += probeMs;
      writeTotal += writeMs;
      wallTotal += seconds * 1000;
      writer.checkpoint(progress());
      lastCheckpoint = performance.now();
      await opts.listener?.onEpochEnd?.(e);
    }
    if (status === RunStatus.running) status = RunStatus.complete;
  } catch (e) {
    status = RunStatus.failed;
    throw e;
  } finally {
    model.dispose();
    try {
      writer.close(progress());
    } catch (e) {
      // the first error is the one to report; a failed final write is reported if it is the only one
      if (status !== RunStatus.failed) { status = RunStatus.failed; throw e; }
    }
  }
  const last: LayerFigure[] = stepSlots.flatMap((s, i) => (!seen[i] ? [] : [{ layer: s.layer, probe: s.probe, metric: s.metric, value: lastBySlot[i] }]));
  const result: RunResult = {
    run, path: writer.file, status, config, configHash: configHash(config), backend: backend.name, steps: stepsDone, epochs, last,
    seconds: wallTotal / 1000,
    probeOverhead: wallTotal > 0 ? probeTotal / wallTotal : 0,
    writeOverhead: wallTotal > 0 ? writeTotal / wallTotal : 0,
    diverged,
  };
  if (status === RunStatus.interrupted) {
    throw Object.assign(new ProbeError(ErrorCode.interrupted, msg.interrupted(writer.file, stepsDone, writer.file !== path ? path : null)), { result });
  }
  return result;
}
