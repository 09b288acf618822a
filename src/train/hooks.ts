import type tf from '../tf.cjs';
import type { TrainedActivation } from '../activations/index.js';

/**
 * Hook points of a training step. Every tensor is in the feature-major layout the engine computes
 * in: rows are units (or input features), columns are the samples of the batch; weights are
 * `[fanOut, fanIn]` like PyTorch's. Tensors live only during the call: keep numbers, not tensors.
 */
export interface StepInfo {
  /** 0-based count of optimizer steps since the run began */
  readonly step: number;
  /** 1-based */
  readonly epoch: number;
  readonly batchSize: number;
}

export interface ForwardTensors {
  /** 1-based; layer L is the L-th non-input layer, the last one is the output layer */
  readonly layer: number;
  readonly activation: TrainedActivation;
  readonly input: tf.Tensor2D;
  /** pre-activation (after batch normalization when that is on) */
  readonly z: tf.Tensor2D;
  readonly a: tf.Tensor2D;
  /**
   * For layers whose units have several positions (a convolution's channels, in an attached
   * model; z and a then hold every position as a column): per unit and sample, the largest z over
   * the sample's positions, `[units, batch]`. Absent when z already has one column per sample.
   */
  readonly zUnit?: tf.Tensor2D;
}

export interface BackwardTensors {
  readonly layer: number;
  readonly dz: tf.Tensor2D;
  readonly dW: tf.Tensor2D;
  /** `[fanOut, 1]` */
  readonly db: tf.Tensor2D;
}

export interface UpdateTensors {
  readonly layer: number;
  /** weights after this step's update */
  readonly w: tf.Tensor2D;
  /** momentum buffer after this step; the weights moved by `lr · velocityW` (PyTorch's SGD) */
  readonly velocityW: tf.Tensor2D;
  readonly lr: number;
  /** computed with the update, in the same pass: [Σ(dL/dW)², max|dL/dW|, Σv'², Σw'²] */
  readonly wMoments: tf.Tensor1D;
  /** the same for the bias */
  readonly bMoments: tf.Tensor1D;
}

export interface NetworkTensors {
  readonly loss: tf.Scalar;
  /** output-layer activations fed to log-softmax, `[classes, batch]` */
  readonly output: tf.Tensor2D;
  /** `[batch]` int32 */
  readonly labels: tf.Tensor1D;
  /**
   * dL/da of the output layer (the loss's gradient with respect to `output`), `[classes, batch]`;
   * absent when the loop did not see it. Its sign is what the wrong-side saturation reads: dL/dz
   * would not do, as a saturated unit's f′(z) underflows to 0 in float32 and takes the sign with it.
   */
  readonly outputGrad?: tf.Tensor2D;
}

/**
 * What a step exposes; `onStepTensors` returns the values to record with the loss: a tensor read
 * back with it in one go, or numbers already on the host (host backends compute probes eagerly).
 */
export interface TensorHooks {
  onForward?(t: ForwardTensors, info: StepInfo): void;
  onBackward?(t: BackwardTensors, info: StepInfo): void;
  onUpdate?(t: UpdateTensors, info: StepInfo): void;
  /**
   * Whether this step's `onUpdate` reads the moments (`wMoments`); when false the engine may skip
   * them (NaN). Absent = always.
   */
  wantsMoments?(info: StepInfo): boolean;
  onStepTensors?(t: NetworkTensors, info: StepInfo): tf.Tensor1D | Float32Array | null;
}

/** The values a step records: what it read back from the device, then the probes' host numbers (if any). */
export function joinStepValues(read: Float32Array, host: Float32Array | null): Float32Array {
  if (!host) return read;
  const all = new Float32Array(read.length + host.length);
  all.set(read);
  all.set(host, read.length);
  return all;
}
