import tf from '../tf.cjs';
import { concatVectors, registerKernels } from '../host-kernels.js';
import type { BackwardTensors, ForwardTensors, NetworkTensors, StepInfo, TensorHooks, UpdateTensors } from '../train/hooks.js';
import type { LayerInfo, Probe, ProbeSettings, ProbeValues } from './probe.js';

/** Where each value of a step's readback goes: layer 0 is the whole network. */
export interface ValueSlot {
  readonly layer: number;
  readonly probe: string;
  readonly metric: string;
  /** averaged over a window of steps and written once per window (after every per-step slot) */
  readonly window: boolean;
}

/** A layer probe that reads the step's update (one that does not say what it reads may). */
const readsUpdate = (probe: Probe): boolean => probe.scope === 'layer' && (probe.reads?.includes('update') ?? true);

/** Probes' values as one: numbers when every part is, else one tensor (numbers moved to the device). */
export function joinValues(parts: readonly ProbeValues[]): ProbeValues {
  if (!parts.some((p) => p instanceof tf.Tensor)) return parts.flatMap((p) => Array.from(p as ArrayLike<number>));
  return concatVectors(parts.map((p) => (p instanceof tf.Tensor ? p : tf.tensor1d(Array.from(p)))));
}

/**
 * Subscribes to the step's hooks, runs every active probe on the tensors it captured, and hands
 * the engine one tensor holding all their values, so a step costs a single device readback.
 */
export class ProbeHost implements TensorHooks {
  readonly slots: readonly ValueSlot[];
  /** how many of {@link slots} (the first ones) are written every probed step */
  readonly stepSlots: number;
  private readonly plan: { probe: Probe; layer: LayerInfo | null; count: number; first: number }[] = [];
  /** plan entries due this step (all of them until {@link due} is called) */
  private active: number[] | null = null;
  /** whether one of them reads the update (set with {@link active}) */
  private momentsDue: boolean;
  /** indexes into {@link slots} of the values this step's tensor holds, ascending */
  activeSlots: readonly number[];
  private forward: ForwardTensors[] = [];
  private backward: BackwardTensors[] = [];
  private update: UpdateTensors[] = [];
  /** the host backends' joined values, reused from step to step */
  private joined = new Float32Array(0);
  /** milliseconds spent issuing probe computations (eager backends run them as they are issued) */
  computeMs = 0;

  constructor(
    probes: readonly Probe[],
    readonly layers: readonly LayerInfo[],
    readonly settings: ProbeSettings,
  ) {
    // the kernels of the probes it runs (the engine's come with the backend)
    registerKernels(probes.flatMap((p) => p.kernels ?? []));
    const slots: ValueSlot[] = [];
    for (const probe of probes) {
      if (probe.scope === 'network') {
        const names = probe.metrics(settings);
        this.plan.push({ probe, layer: null, count: names.length, first: slots.length });
        names.forEach((metric) => slots.push({ layer: 0, probe: probe.id, metric, window: false }));
      }
    }
    // windowed values last, so the per-step ones are one contiguous run of the readback
    for (const window of [false, true]) {
      for (const layer of layers) {
        for (const probe of probes) {
          if (probe.scope !== 'layer' || (probe.window ?? false) !== window) continue;
          const names = probe.metrics(layer, settings);
          if (names.length === 0) continue;
          this.plan.push({ probe, layer, count: names.length, first: slots.length });
          names.forEach((metric) => slots.push({ layer: layer.layer, probe: probe.id, metric, window }));
        }
      }
    }
    this.slots = slots;
    this.stepSlots = slots.filter((s) => !s.window).length;
    this.activeSlots = slots.map((_, i) => i);
    this.momentsDue = this.plan.some(({ probe }) => readsUpdate(probe));
  }

  /**
   * Chooses the probes to run at `step`: each by its own schedule, or every `every`-th step.
   * Returns whether any is due (otherwise the step needs no hooks); {@link activeSlots} then
   * says which slots the step's values fill (per-step slots first, as in {@link slots}).
   */
  due(step: number, every: number): boolean {
    this.active = [];
    const slots: number[] = [];
    this.plan.forEach((e, i) => {
      if (!(e.probe.schedule ? e.probe.schedule(step, this.settings) : step % every === 0)) return;
      this.active!.push(i);
      for (let k = 0; k < e.count; k++) slots.push(e.first + k);
    });
    this.activeSlots = slots;
    this.momentsDue = this.active.some((i) => readsUpdate(this.plan[i].probe));
    return slots.length > 0;
  }

  /** Whether a probe due this step reads the update (the engine skips its moments otherwise). */
  wantsMoments(): boolean {
    return this.momentsDue;
  }

  onForward(t: ForwardTensors): void {
    this.forward[t.layer - 1] = t;
  }
  onBackward(t: BackwardTensors): void {
    this.backward[t.layer - 1] = t;
  }
  onUpdate(t: UpdateTensors): void {
    this.update[t.layer - 1] = t;
  }

  /**
   * The due probes' values in slot order. On host backends every probe returns numbers: they are
   * joined into one array owned by the host and reused (valid until the next call; the engine
   * copies it behind the loss at once). Otherwise one tensor to read back with the loss.
   */
  onStepTensors(network: NetworkTensors, info: StepInfo): tf.Tensor1D | Float32Array | null {
    const due = this.active === null ? this.plan : this.active.map((i) => this.plan[i]);
    if (due.length === 0) return null;
    const t0 = performance.now();
    let onHost = true, total = 0;
    const parts = due.map(({ probe, layer, count }) => {
      let out: ProbeValues;
      if (probe.scope === 'network') {
        out = probe.compute({ info, network, settings: this.settings });
      } else {
        const i = layer!.layer - 1;
        const outputGrad = layer!.isOutput ? network.outputGrad : undefined;
        out = probe.compute({ info, layer: layer!, forward: this.forward[i], backward: this.backward[i], update: this.update[i], ...(outputGrad ? { outputGrad } : {}), settings: this.settings });
      }
      const isTensor = out instanceof tf.Tensor;
      const shape = out instanceof tf.Tensor ? out.shape : [out.length];
      if (shape.length !== 1 || shape[0] !== count) throw new Error(`probe '${probe.id}' returned shape [${shape}] for ${count} metrics`);
      onHost &&= !isTensor;
      total += count;
      return out;
    });
    this.forward = [];
    this.backward = [];
    this.update = [];
    let out: tf.Tensor1D | Float32Array;
    if (onHost) {
      if (this.joined.length !== total) this.joined = new Float32Array(total);
      out = this.joined;
      let o = 0;
      for (const p of parts as ArrayLike<number>[]) for (let k = 0; k < p.length; k++) out[o++] = p[k];
    } else {
      out = joinValues(parts) as tf.Tensor1D;
    }
    this.computeMs += performance.now() - t0;
    return out;
  }
}
