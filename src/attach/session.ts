/**
 * `attachProbes(model)`: probe's hooks on any `tf.LayersModel`, for `model.fit`, `fitDataset`,
 * `trainOnBatch` or a hand-written loop.
 *
 *   attach: plan layers → wrap each probed layer's `call` (forward + dL/dz tap), the optimizer's
 *   `computeGradients` (arms a step, gets the loss) and `applyGradients` (sees every gradient,
 *   measures the update), the compiled loss functions (see targets and outputs)
 *   → each probed step: the same probes as `probe run`, one readback, one row per value
 *   → epochs: a `model.fit` callback, or `session.endEpoch` → `close()` restores the model.
 *
 * A step is probed when it goes through the optimizer's `computeGradients` — `minimize` (what
 * `model.fit` calls) does. Unprobed steps run the model's own code with one extra function call.
 */
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import tf from '../tf-layers.cjs';
import { ensureWritableDir } from '../fs-util.js';
import { ProbeHost } from '../probes/host.js';
import { ENGINE_KERNELS } from '../train/kernels/engine-kernels.js';
import { alignTensorMemory } from '../train/kernels/host.js';
import { registerKernels } from '../train/kernels/registry.js';
import { DEFAULT_PROBE_SETTINGS, type LayerInfo, type LayerProbe, type Probe, type ProbeSettings } from '../probes/probe.js';
import { resolveProbes } from '../probes/registry.js';
import { RunStatus, type Divergence, type RuleEvent, type RunFacts } from '../trace/schema.js';
import { processFacts, TraceRecorder, type EpochFigures, type Halt } from '../trace/recorder.js';
import { normalizeRules, parseRules, RuleAction, type RuleInput } from '../rules/rules.js';
import { layerActivation, type Activation } from '../activations/index.js';
import { joinStepValues, type BackwardTensors, type ForwardTensors, type UpdateTensors } from '../train/hooks.js';
import { hookLayer, type ForwardCapture, type ForwardSink } from './forward-hooks.js';
import { featureMajor, unitMax } from './layout.js';
import { planLayers, LayerRole, type LayerPlan, type PlannedLayer } from './layer-plan.js';
import { lossOnly } from './loss-only.js';
import { attachKernels, weightMoments } from './moments.js';
import { ErrorCode, isProbeError, ProbeError } from '../errors.js';
import { msg, opt } from '../messages.js';
import { checkRunName } from '../config.js';
import { checkOptions, optionKeys } from '../options.js';
import { dropEmscriptenHandlers, quietCpuBanner } from '../train/quiet.js';

// a program that imports probe is not greeted by tfjs's install-tfjs-node banner (quiet.ts)
quietCpuBanner();

export interface AttachOptions {
  /** folder for the trace (created if missing); default `runs` */
  readonly out?: string;
  /**
   * the trace's run name (file `<out>/<name>.arrow`); default the model's name, made unique in
   * `out` (`sequential_1`, then `sequential_1-2`, …): a script run twice keeps both traces
   * (with `force`, the model's name itself is replaced)
   */
  readonly name?: string;
  /** replace an existing trace */
  readonly force?: boolean;
  /** probe ids, or `all` (default) */
  readonly probes?: readonly string[] | 'all';
  /** probe steps 0, every, 2·every, … (default 1) */
  readonly every?: number;
  readonly thresholds?: Partial<ProbeSettings>;
  /** the optimizer the loop steps with; default the compiled model's */
  readonly optimizer?: tf.Optimizer;
  /** recorded as the run's seed (default 0) */
  readonly seed?: number;
  /** settings of the loop worth recording (dataset, batch size, …): stored in the trace's config */
  readonly config?: Readonly<Record<string, unknown>>;
  /** what the trace's facts say about the data */
  readonly dataset?: RunFacts['dataset'];
  /** how `--backend auto` chose the backend (probe run --model), recorded in the trace's facts */
  readonly backendCalibration?: RunFacts['backendCalibration'];
  /** steps per epoch, for a hand-written loop (model.fit tells the session itself) */
  readonly stepsPerEpoch?: number;
  /**
   * A hand-written loop's loss function `(yTrue, yPred) => loss`: call `session.loss` instead, so
   * the session sees targets and predictions and records the batch accuracy. A compiled model's
   * loss is wrapped without asking.
   */
  readonly loss?: LossFn;
  /**
   * rules that read each probed step (src/rules/rules.ts): `'all'` (every built-in rule at its
   * defaults, stopping the run), names, `NAME:THRESHOLD:PATIENCE` text, or objects `{ rule,
   * action: 'warn' | 'stop', threshold, patience }`. A stop ends `model.fit` after the batch (a
   * hand-written loop checks `session.halted`); the trace closes as `stopped`.
   */
  readonly rules?: 'all' | string | readonly RuleInput[];
  /** called when a rule fires, with what it saw */
  readonly onPathology?: (e: RuleEvent) => void;
}

/** Every option of {@link AttachOptions}: anything else is refused with the nearest of these. */
const ATTACH_OPTION_KEYS = optionKeys<AttachOptions>({
  out: 1, name: 1, force: 1, probes: 1, every: 1, thresholds: 1, optimizer: 1, seed: 1, config: 1, dataset: 1,
  backendCalibration: 1, stepsPerEpoch: 1, loss: 1, rules: 1, onPathology: 1,
});

/** A gradient reaching a tensor used twice in one step: the two add, like the weights' (both kept, the parts disposed). */
function addGrad(old: tf.Tensor | null | undefined, g: tf.Tensor): tf.Tensor {
  if (!old) return g;
  const sum = tf.keep(tf.add(old, g));
  tf.dispose([old, g]);
  return sum;
}

/** Automatic names tried before giving up (a folder holding that many traces of one model name). */
const MAX_AUTO_NAMES = 1000;

export type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
type NamedGrads = tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[];

interface Pending {
  readonly forward: Map<number, ForwardCapture>;
  readonly dz: Map<number, tf.Tensor>;
  /** dL/da of the output layer (the caller's loss), when the step's gradient reached it */
  da: tf.Tensor | null;
  yTrue: tf.Tensor | null;
  yPred: tf.Tensor | null;
  loss: tf.Tensor | null;
}

export class ProbeSession implements ForwardSink {
  readonly plan: LayerPlan;
  readonly path: string;
  readonly run: string;
  /** optimizer steps so far */
  step = 0;
  /** 1-based epoch the next steps belong to */
  epoch = 1;
  capturing = false;
  /** `opts.loss`, wrapped to show the session targets and predictions; null without it */
  readonly loss: LossFn | null;
  private pending: Pending | null = null;
  private readonly host: ProbeHost;
  private readonly infos: readonly LayerInfo[];
  private readonly recorder: TraceRecorder;
  private readonly restore: (() => void)[] = [];
  private readonly every: number;
  private readonly optimizer: tf.Optimizer;
  private readonly sawTargets: boolean;
  private stepsPerEpoch: number;
  private epochStart = performance.now();
  private epochProbeMs = 0;
  private stepsThisEpoch = 0;
  private closed = false;
  private fitParams: { batchSize?: number; epochs?: number } | null = null;

  constructor(readonly model: tf.LayersModel, opts: AttachOptions = {}) {
    checkOptions('attachProbes', opts, ATTACH_OPTION_KEYS);
    if (tf.getBackend() === 'wasm') {
      dropEmscriptenHandlers();
      // its tensors from now on on cache lines, as selectBackend does (host.ts): faster products, nothing else changes
      alignTensorMemory(tf.backend());
    }
    // the user may have picked the backend (tf.setBackend), not selectBackend: probe's kernels must still exist
    registerKernels([...ENGINE_KERNELS, ...attachKernels]);
    const inner = innerModel(model);
    const optimizer = opts.optimizer ?? inner.optimizer;
    if (!optimizer) throw new ProbeError(ErrorCode.config, msg.attachNoOptimizer());
    this.optimizer = optimizer;
    this.every = opts.every ?? 1;
    this.stepsPerEpoch = opts.stepsPerEpoch ?? 0;
    this.plan = planLayers(model);
    const settings: ProbeSettings = { ...DEFAULT_PROBE_SETTINGS, ...opts.thresholds };
    const outShape = model.outputs[0].shape;
    const compiled = (inner.lossFunctions?.length ?? 0) > 0;
    this.sawTargets = (compiled || opts.loss !== undefined) && model.outputs.length === 1 && outShape.length === 2 && (outShape[1] ?? 0) >= 2;
    this.loss = opts.loss ? this.wrapLoss(opts.loss) : null;
    const probeIds = opts.probes ?? 'all';
    const probes: Probe[] = resolveProbes(probeIds).map((p) => (p.id === 'loss' && !this.sawTargets ? lossOnly : p.scope === 'layer' ? tolerant(p) : p));
    this.infos = this.plan.layers.map((l) => ({
      layer: l.layer,
      activation: layerActivation(l) as Activation,
      fanIn: l.fanIn,
      fanOut: l.units,
      isOutput: l.isOutput,
      hasWeights: l.weights.length > 0,
      hasBias: l.bias !== null,
    }));
    this.host = new ProbeHost(probes, this.infos, settings);
    const out = resolve(opts.out ?? 'runs');
    ensureWritableDir(out);
    const auto = opts.name === undefined;
    const base = auto ? model.name : checkRunName(opts.name);
    this.run = base;
    this.path = join(out, `${base}.arrow`);
    const rules = normalizeRules(parseRules(opts.rules, RuleAction.stop, opt('rules')));
    const config = {
      source: 'attach',
      model: model.name,
      optimizer: { className: optimizer.getClassName(), ...optimizer.getConfig() },
      probes: probes.map((p) => p.id),
      every: this.every,
      thresholds: settings,
      ...(rules.length ? { rules } : {}),
      ...opts.config,
    };
    const facts = (): RunFacts => ({
      run: this.run,
      combo: this.run,
      seed: opts.seed ?? 0,
      backend: tf.getBackend(),
      ...(opts.backendCalibration ? { backendCalibration: opts.backendCalibration } : {}),
      engine: 'attach',
      ...processFacts(),
      dataset: opts.dataset ?? { name: 'unknown', source: 'the caller', trainSize: 0, testSize: 0 },
      layers: this.plan.layers.map((l) => ({
        layer: l.layer, activation: l.activation, fanIn: l.fanIn, fanOut: l.units,
        name: l.name, className: l.className, unitKind: l.unitKind, outputShape: [...l.outputShape],
        ...(l.activationParam !== null ? { activationParam: l.activationParam } : {}),
      })),
      unprobed: this.plan.unprobed,
      stepsPerEpoch: this.stepsPerEpoch,
    });
    // model.fit's batch size and epochs are known once it calls back, before the first step
    const fullConfig = () => {
      const fit = this.fitParams;
      const c = { ...(fit?.batchSize ? { batch: fit.batchSize } : {}), ...(fit?.epochs ? { epochs: fit.epochs } : {}), ...config };
      return { ...c, configHash: createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16) };
    };
    // an automatic name moves on past traces already there (or being written) instead of refusing;
    // `force` means this very name, replaced
    let recorder: TraceRecorder | null = null;
    for (let k = 1; recorder === null; k++) {
      if (k > 1) {
        this.run = `${base}-${k}`;
        this.path = join(out, `${this.run}.arrow`);
      }
      try {
        recorder = new TraceRecorder({
          path: this.path, run: this.run, force: opts.force ?? false, slots: this.host.slots, config: fullConfig, facts,
          rules: { rules, outputLayer: this.infos.find((l) => l.isOutput)?.layer ?? this.infos.length, onPathology: opts.onPathology },
        });
      } catch (e) {
        const taken = isProbeError(e) && (e.code === ErrorCode.exists || e.code === ErrorCode.busy);
        if (!auto || opts.force || !taken || k >= MAX_AUTO_NAMES) throw e;
      }
    }
    this.recorder = recorder;
    if (this.stepsPerEpoch > 0) this.recorder.setStepsPerEpoch(this.stepsPerEpoch);
    for (const l of this.plan.layers) this.restore.push(hookLayer(l, this));
    this.hookOptimizer();
    if (this.sawTargets && compiled) this.hookLosses(inner);
  }

  /** Slots of the values each probed step records, in order (layer 0 = network). */
  get slots() {
    return this.host.slots;
  }

  forward(layer: number, t: ForwardCapture): void {
    const p = this.pending;
    if (!p) return tf.dispose([t.z, t.a]);
    const old = p.forward.get(layer);
    if (old) tf.dispose([old.z, old.a]);
    p.forward.set(layer, t);
  }

  backward(layer: number, dz: tf.Tensor): void {
    const p = this.pending;
    if (!p) return void dz.dispose();
    p.dz.set(layer, addGrad(p.dz.get(layer), dz));
  }

  outputGrad(_layer: number, da: tf.Tensor): void {
    const p = this.pending;
    if (!p) return void da.dispose();
    p.da = addGrad(p.da, da);
  }

  private wrapLoss(fn: LossFn): LossFn {
    return (yTrue, yPred) => {
      if (this.capturing && this.pending) {
        tf.dispose([this.pending.yTrue, this.pending.yPred].filter((t): t is tf.Tensor => t !== null));
        this.pending.yTrue = tf.keep(tf.clone(yTrue));
        this.pending.yPred = tf.keep(tf.clone(yPred));
      }
      return fn(yTrue, yPred);
    };
  }

  private hookLosses(inner: tf.LayersModel): void {
    const fns = inner.lossFunctions;
    const originals = [...fns];
    fns.forEach((fn, i) => { fns[i] = this.wrapLoss(fn as LossFn) as typeof fn; });
    this.restore.push(() => originals.forEach((fn, i) => { fns[i] = fn; }));
  }

  private hookOptimizer(): void {
    const opt = this.optimizer as unknown as {
      computeGradients: (f: () => tf.Scalar, varList?: tf.Variable[]) => { value: tf.Scalar; grads: tf.NamedTensorMap };
      applyGradients: (g: NamedGrads) => void;
    };
    const compute = opt.computeGradients, apply = opt.applyGradients;
    opt.computeGradients = (f, varList) => {
      this.discard();
      // each probe by its own schedule (distribution: every distributionEvery steps), the others every `every`
      const probed = this.host.due(this.step, this.every);
      if (probed) this.pending = { forward: new Map(), dz: new Map(), da: null, yTrue: null, yPred: null, loss: null };
      this.capturing = probed;
      let r: { value: tf.Scalar; grads: tf.NamedTensorMap };
      try {
        r = compute.call(this.optimizer, f, varList);
      } catch (e) {
        this.discard();
        throw e;
      } finally {
        this.capturing = false;
      }
      if (this.pending) this.pending.loss = tf.keep(tf.clone(r.value));
      return r;
    };
    opt.applyGradients = (g) => {
      if (!this.pending || this.closed) {
        apply.call(this.optimizer, g);
        this.stepDone();
        return;
      }
      const grads = new Map<string, tf.Tensor>(Array.isArray(g) ? g.map((e) => [e.name, e.tensor]) : Object.entries(g));
      const vars = tf.engine().registeredVariables;
      const before = new Map<string, tf.Tensor>();
      for (const l of this.plan.layers) {
        for (const name of [...l.weights, ...(l.bias ? [l.bias] : [])]) if (grads.has(name) && vars[name]) before.set(name, tf.clone(vars[name]));
      }
      try {
        apply.call(this.optimizer, g);
        this.finishStep(grads, before);
      } finally {
        tf.dispose([...before.values()]);
        this.discard();
      }
      this.stepDone();
    };
    this.restore.push(() => {
      opt.computeGradients = compute;
      opt.applyGradients = apply;
    });
  }

  private stepDone(): void {
    this.step++;
    this.stepsThisEpoch++;
    this.recorder.stepDone(this.epoch, () => this.nonFiniteWeights());
  }

  /**
   * The first probed weight or bias that holds a value that is not a finite number, as `layer name
   * holds NaN`, or null. One reduction per variable: asked at checkpoints and epoch ends, not every step.
   */
  private nonFiniteWeights(): string | null {
    const vars = tf.engine().registeredVariables;
    for (const l of this.plan.layers) {
      for (const name of [...l.weights, ...(l.bias ? [l.bias] : [])]) {
        const v = vars[name];
        if (!v) continue;
        const [bad, ss] = tf.tidy(() => [tf.logicalNot(tf.all(tf.isFinite(v))).dataSync()[0], tf.sum(tf.square(tf.cast(v, 'float32'))).dataSync()[0]]);
        if (bad) return `layer ${l.layer} (${l.name}) ${name} holds a value that is not finite`;
        // its norm beyond float32 (> 1.8e19): the engine's rule
        if (!Number.isFinite(ss)) return `layer ${l.layer} (${l.name}) ${name} has a norm beyond float32`;
      }
    }
    return null;
  }

  /**
   * Set when the run diverged (its loss, or at a checkpoint its weights, stopped being finite
   * numbers) or a rule with the stop action fired: `model.fit` stops at the end of the batch; a
   * hand-written loop should stop too. The trace then closes as diverged or stopped.
   */
  get halted(): Halt | null {
    return this.recorder.halted;
  }

  /** Set when the run diverged: the step, and what was not finite. */
  get divergence(): Divergence | null {
    return this.recorder.divergence;
  }

  /** The rule that stopped the run, if one did. */
  get stoppedBy(): RuleEvent | null {
    return this.recorder.stoppedBy;
  }

  /** Every rule that fired so far (warn or stop), in order. */
  get ruleEvents(): readonly RuleEvent[] {
    return this.recorder.ruleEvents;
  }

  private discard(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    const ts: tf.Tensor[] = [];
    for (const f of p.forward.values()) ts.push(f.z, f.a);
    ts.push(...p.dz.values());
    for (const t of [p.da, p.yTrue, p.yPred, p.loss]) if (t) ts.push(t);
    tf.dispose([...new Set(ts)]);
  }

  /** Runs the probes on what the step captured; one readback; one row per value. */
  private finishStep(grads: ReadonlyMap<string, tf.Tensor>, before: ReadonlyMap<string, tf.Tensor>): void {
    const p = this.pending!;
    const t0 = performance.now();
    const info = { step: this.step, epoch: this.epoch, batchSize: p.loss ? (p.yPred?.shape[0] ?? 0) : 0 };
    const vars = tf.engine().registeredVariables;
    const missing = new Set<number>();
    // probes computed on the host return numbers: they leave the tidy beside its tensor
    let host: Float32Array | null = null;
    const out = tf.tidy(() => {
      for (const l of this.plan.layers) {
        const f = p.forward.get(l.layer), dz = p.dz.get(l.layer);
        if (!f || !dz) missing.add(l.layer);
        this.host.onForward(forwardTensors(l, f));
        this.host.onBackward(backwardTensors(l, dz, grads));
        this.host.onUpdate(updateTensors(l, grads, before, vars));
      }
      const loss = (p.loss ?? tf.scalar(NaN)) as tf.Scalar;
      const output = p.yPred ? (tf.transpose(tf.reshape(p.yPred, [p.yPred.shape[0], -1])) as tf.Tensor2D) : (tf.zeros([1, 1]) as tf.Tensor2D);
      const labels = p.yTrue && p.yPred ? labelsOf(p.yTrue, p.yPred) : (tf.zeros([1], 'int32') as tf.Tensor1D);
      // dL/da as the probes read the output: feature-major, beside a (the output layer's own capture)
      const outputGrad = p.da ? featureMajor(p.da) : undefined;
      const extra = this.host.onStepTensors({ loss, output, labels, ...(outputGrad ? { outputGrad } : {}) }, info);
      const l = tf.reshape(loss, [1]) as tf.Tensor1D;
      if (extra instanceof Float32Array) { host = extra; return l; }
      return extra ? tf.concat([l, extra]) : l;
    });
    const values = joinStepValues(out.dataSync() as Float32Array, host);
    out.dispose();
    // a probed layer the step did not run through has no values this step, not zeros
    const active = this.host.activeSlots;
    if (missing.size > 0) active.forEach((slot, k) => { if (missing.has(this.host.slots[slot].layer)) values[k + 1] = NaN; });
    this.epochProbeMs += performance.now() - t0;
    this.recorder.record(this.step, this.epoch, values, active, missing);
  }

  /** Each per-step value as last measured (values never measured are left out). */
  lastFigures() {
    return this.recorder.lastFigures();
  }

  /**
   * Ends an epoch: writes its evaluation figures (any may be left out) and timing, checkpoints
   * the trace. `model.fit` does this through {@link callback}.
   */
  endEpoch(figures: EpochFigures = {}): void {
    if (this.stepsPerEpoch === 0) this.stepsPerEpoch = this.stepsThisEpoch;
    this.recorder.setStepsPerEpoch(this.stepsPerEpoch);
    if (!this.recorder.halted) {
      const bad = this.nonFiniteWeights();
      if (bad) this.recorder.diverge(this.step - 1, bad);
    }
    const seconds = (performance.now() - this.epochStart) / 1000;
    this.recorder.endEpoch(this.epoch, figures, seconds, this.epochProbeMs / 1000);
    this.epoch++;
    this.epochStart = performance.now();
    this.epochProbeMs = 0;
    this.stepsThisEpoch = 0;
  }

  /** A callback for `model.fit` / `fitDataset`: epochs, validation figures, steps per epoch. */
  get callback(): tf.Callback {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const session = this;
    return new (class extends tf.Callback {
      override async onTrainBegin(): Promise<void> {
        const p = this.params as { samples?: number; batchSize?: number; steps?: number | null; epochs?: number };
        session.fitParams = { batchSize: p.batchSize, epochs: p.epochs };
        if (session.stepsPerEpoch === 0) {
          if (p.steps) session.stepsPerEpoch = p.steps;
          else if (p.samples && p.batchSize) session.stepsPerEpoch = Math.ceil(p.samples / p.batchSize);
          if (session.stepsPerEpoch > 0) session.recorder.setStepsPerEpoch(session.stepsPerEpoch);
        }
      }
      override async onBatchEnd(_batch: number, logs?: tf.Logs): Promise<void> {
        // the loss of every step, probed or not: a run whose loss stops being finite has diverged
        const loss = logValue(logs, 'loss');
        if (loss !== undefined) session.recorder.loss(session.step - 1, loss);
        if (session.recorder.halted) this.model.stopTraining = true;
      }
      override async onEpochBegin(epoch: number): Promise<void> {
        session.epoch = epoch + 1;
        session.epochStart = performance.now();
        session.epochProbeMs = 0;
        session.stepsThisEpoch = 0;
      }
      override async onEpochEnd(_epoch: number, logs?: tf.Logs): Promise<void> {
        const n = (k: string) => logValue(logs, k);
        session.endEpoch({ trainLoss: n('loss'), testLoss: n('val_loss'), testAcc: n('val_acc') ?? n('val_accuracy') });
        session.epoch = _epoch + 1;
      }
    })();
  }

  /**
   * Closes the trace (status complete unless given; a run that diverged stays diverged), frees the
   * run's lock and restores the model and optimizer. Returns the status the trace closed with.
   */
  close(status: RunStatus = RunStatus.complete): RunStatus {
    if (!this.closed) {
      this.closed = true;
      this.discard();
      for (const r of this.restore.reverse()) r();
    }
    return this.recorder.close(status);
  }
}

/**
 * A number from `model.fit`'s logs. A `tf.Callback` subclass receives them unresolved (scalar
 * tensors; only `CustomCallback` resolves them), so both forms are read.
 */
export function logValue(logs: tf.Logs | undefined, key: string): number | undefined {
  const v = (logs as Record<string, unknown> | undefined)?.[key];
  if (typeof v === 'number') return v;
  if (v instanceof tf.Tensor && !v.isDisposed && v.size === 1) return v.dataSync()[0];
  return undefined;
}

/**
 * An attached model's layers carry activations probe's study never uses (linear, softmax,
 * softplus, …): a probe that cannot describe such a layer (its `metrics` throws) records nothing
 * for it instead of stopping the user's training.
 */
export function tolerant(p: LayerProbe): LayerProbe {
  return {
    ...p,
    metrics(layer, settings) {
      try {
        return p.metrics(layer, settings);
      } catch {
        return [];
      }
    },
    compute: (ctx) => p.compute(ctx),
  };
}

/** A Sequential trains through the functional model inside it: that one holds the loss functions. */
function innerModel(model: tf.LayersModel): tf.LayersModel {
  const inner = (model as unknown as { model?: tf.LayersModel }).model;
  return model instanceof tf.Sequential && inner ? inner : model;
}

function lazy<T extends object>(o: T, getters: Record<string, () => tf.Tensor | undefined>): T {
  for (const [k, g] of Object.entries(getters)) {
    let v: tf.Tensor | undefined;
    Object.defineProperty(o, k, { enumerable: true, get: () => (v ??= g()) });
  }
  return o;
}

/** Conversions run only when a probe reads them. */
function forwardTensors(l: PlannedLayer, f: ForwardCapture | undefined): ForwardTensors {
  const dummy = () => tf.zeros([l.units, 1]) as tf.Tensor2D;
  const base = { layer: l.layer, activation: layerActivation(l) as Activation } as ForwardTensors;
  const input = () => {
    throw new Error(`attached layer ${l.name}: its input is not captured (no probe needed it so far)`);
  };
  if (!f) return lazy(base, { input, z: dummy, a: dummy });
  return lazy(base, {
    input,
    z: () => featureMajor(f.z),
    a: () => featureMajor(f.a),
    zUnit: () => unitMax(f.z) ?? undefined,
  });
}

function backwardTensors(l: PlannedLayer, dz: tf.Tensor | undefined, grads: ReadonlyMap<string, tf.Tensor>): BackwardTensors {
  const w = l.weights.map((n) => grads.get(n)).find((t) => t !== undefined);
  const b = l.bias ? grads.get(l.bias) : undefined;
  return lazy({ layer: l.layer } as BackwardTensors, {
    dz: () => (dz ? featureMajor(dz) : tf.zeros([l.units, 1])),
    // in the model's own layout ([fanIn, units] for Dense), not the engine's [units, fanIn]
    dW: () => (w ? tf.reshape(w, [-1, w.shape[w.rank - 1]]) : tf.zeros([1, 1])),
    db: () => (b ? tf.reshape(b, [-1, 1]) : tf.zeros([l.units, 1])),
  });
}

function updateTensors(l: PlannedLayer, grads: ReadonlyMap<string, tf.Tensor>, before: ReadonlyMap<string, tf.Tensor>, vars: Readonly<Record<string, tf.Variable>>): UpdateTensors {
  const parts = (names: readonly string[]) => names.filter((n) => grads.has(n) && before.has(n) && vars[n])
    .map((n) => ({ grad: grads.get(n)!, before: before.get(n)!, after: vars[n] as tf.Tensor }));
  const w0 = l.weights.find((n) => vars[n]);
  // lr = 1 and "velocity" = the step taken: ‖ΔW‖ = lr·‖v‖ holds for any optimizer
  return lazy({ layer: l.layer, lr: 1 } as UpdateTensors, {
    w: () => (w0 ? tf.reshape(vars[w0], [-1, vars[w0].shape[vars[w0].rank - 1]]) : tf.zeros([1, 1])),
    velocityW: () => (w0 && before.has(w0) ? tf.reshape(tf.sub(before.get(w0)!, vars[w0]), [-1, vars[w0].shape[vars[w0].rank - 1]]) : tf.zeros([1, 1])),
    wMoments: () => weightMoments(l.role === LayerRole.weighted ? parts(l.weights) : []),
    bMoments: () => weightMoments(l.bias ? parts([l.bias]) : []),
  });
}

/** int32 class per sample: arg-max of one-hot targets, or the targets themselves when sparse. */
function labelsOf(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D {
  const n = yPred.shape[0];
  if (yTrue.rank === yPred.rank && yTrue.shape[yTrue.rank - 1] === yPred.shape[yPred.rank - 1]) {
    return tf.cast(tf.argMax(tf.reshape(yTrue, [n, -1]), 1), 'int32') as tf.Tensor1D;
  }
  return tf.cast(tf.reshape(yTrue, [n]), 'int32') as tf.Tensor1D;
}

/** Attaches probe's probes to a model; see {@link ProbeSession}. */
export function attachProbes(model: tf.LayersModel, opts: AttachOptions = {}): ProbeSession {
  return new ProbeSession(model, opts);
}
