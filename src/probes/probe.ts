/**
 * A probe is a small measurement taken inside a training step. It says *what* it measures
 * (`metrics`, `compute`); the host decides *when* (the schedule) and owns hooks, readback and
 * storage. Probes never touch files, the clock or the model's variables (the host, not a probe,
 * times the probes it runs: the overhead a run reports).
 *
 * `compute` returns one value per name in `metrics(layer)`: on host backends (wasm, cpu) as numbers
 * computed at once from the tensors' memory (its kernel's `eager`), elsewhere as a 1-D tensor
 * computed on the device; the host concatenates them and reads the tensors back in one transfer.
 */
import type tf from '../tf.cjs';
import type { SatThresholds, TrainedActivation } from '../activations/index.js';
import type { BackwardTensors, ForwardTensors, NetworkTensors, StepInfo, UpdateTensors } from '../train/hooks.js';

export interface LayerInfo {
  /** 1-based; the last layer is the output layer */
  readonly layer: number;
  readonly activation: TrainedActivation;
  readonly fanIn: number;
  readonly fanOut: number;
  readonly isOutput: boolean;
  /** false for a layer without weights (an activation layer of an attached model); default true */
  readonly hasWeights?: boolean;
  /** false for a layer without bias; default true */
  readonly hasBias?: boolean;
}

/** Thresholds and limits probes read; recorded with the run's config. */
/** The saturation thresholds (each activation's spec reads them) and the probes' own settings. */
export interface ProbeSettings extends SatThresholds {
  /** layers with at most this many units also get per-unit figures (for the time of death) */
  readonly perUnitMax: number;
  /** the distribution probe runs on steps 0, N, 2N, … (its own schedule, apart from --every) */
  readonly distributionEvery: number;
}

export const DEFAULT_PROBE_SETTINGS: ProbeSettings = {
  sigmoidLow: 0.01,
  sigmoidHigh: 0.99,
  tanhSat: 0.99,
  seluSat: 0.99,
  perUnitMax: 16,
  distributionEvery: 25,
};

export interface LayerContext {
  readonly info: StepInfo;
  readonly layer: LayerInfo;
  readonly forward: ForwardTensors;
  readonly backward: BackwardTensors;
  readonly update: UpdateTensors;
  /** the output layer only: dL/da of its output (NetworkTensors.outputGrad), when the loop saw it */
  readonly outputGrad?: tf.Tensor2D;
  readonly settings: ProbeSettings;
}

export interface NetworkContext {
  readonly info: StepInfo;
  readonly network: NetworkTensors;
  readonly settings: ProbeSettings;
}

interface ProbeBase {
  readonly id: string;
  /** one line for `--help` and the report */
  readonly description: string;
  /** the kernels it runs (defineKernel's `configs`), registered by the ProbeHost that runs it */
  readonly kernels?: readonly tf.KernelConfig[];
  /**
   * When it runs, as cockpit's quantities say it: true on the steps to measure. Without one, a
   * probe follows the run's `--every`.
   */
  readonly schedule?: (step: number, settings: ProbeSettings) => boolean;
}

export interface LayerProbe extends ProbeBase {
  readonly scope: 'layer';
  /** values averaged over windows of steps and written once per window, not every step */
  readonly window?: boolean;
  /**
   * The step's tensors it reads. The engine computes the update's moments (`update.wMoments`, half
   * the arithmetic of the optimizer's pass) only on steps where a due probe reads `update`; absent
   * = it may read all three.
   */
  readonly reads?: readonly ('forward' | 'backward' | 'update')[];
  /** names of the values recorded for this layer; empty when the probe does not apply to it */
  metrics(layer: LayerInfo, settings: ProbeSettings): readonly string[];
  compute(ctx: LayerContext): ProbeValues;
}

export interface NetworkProbe extends ProbeBase {
  readonly scope: 'network';
  metrics(settings: ProbeSettings): readonly string[];
  compute(ctx: NetworkContext): ProbeValues;
}

export type Probe = LayerProbe | NetworkProbe;

/** A probe's values: numbers already on the host (never a view of device memory), or a 1-D tensor on the device. */
export type ProbeValues = tf.Tensor1D | ArrayLike<number>;
