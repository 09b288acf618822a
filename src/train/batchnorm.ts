/**
 * Batch normalization before the activation, PyTorch's `BatchNorm1d` (eps 1e-5, momentum 0.1):
 * training normalizes with the batch's mean and biased variance and keeps running averages (of the
 * unbiased variance) for evaluation. Tensors are feature-major `[units, batch]`; γ, β and the
 * running statistics are `[units, 1]`.
 */
import tf from '../tf.cjs';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

export interface BnState {
  gamma: tf.Tensor2D;
  beta: tf.Tensor2D;
  vGamma: tf.Tensor2D;
  vBeta: tf.Tensor2D;
  runMean: tf.Tensor2D;
  runVar: tf.Tensor2D;
}

export function bnInit(units: number): BnState {
  const z = () => tf.zeros([units, 1]) as tf.Tensor2D;
  return { gamma: tf.ones([units, 1]) as tf.Tensor2D, beta: z(), vGamma: z(), vBeta: z(), runMean: z(), runVar: tf.ones([units, 1]) as tf.Tensor2D };
}

export interface BnForward {
  readonly z: tf.Tensor2D;
  readonly xhat: tf.Tensor2D;
  readonly inv: tf.Tensor2D;
  readonly mean: tf.Tensor2D;
  readonly variance: tf.Tensor2D;
}

export function bnForward(u: tf.Tensor2D, gamma: tf.Tensor2D, beta: tf.Tensor2D): BnForward {
  const mean = tf.mean(u, 1, true) as tf.Tensor2D;
  const d = tf.sub<tf.Tensor2D>(u, mean);
  const variance = tf.mean(tf.square(d), 1, true) as tf.Tensor2D;
  const inv = tf.rsqrt(tf.add(variance, BN_EPS)) as tf.Tensor2D;
  const xhat = tf.mul<tf.Tensor2D>(d, inv);
  return { z: tf.add<tf.Tensor2D>(tf.mul(xhat, gamma), beta), xhat, inv, mean, variance };
}

/** dL/du from dL/dz, and the gradients of γ and β. */
export function bnBackward(dz: tf.Tensor2D, f: BnForward, gamma: tf.Tensor2D): { du: tf.Tensor2D; dGamma: tf.Tensor2D; dBeta: tf.Tensor2D } {
  const B = dz.shape[1];
  const dGamma = tf.sum(tf.mul(dz, f.xhat), 1, true) as tf.Tensor2D;
  const dBeta = tf.sum(dz, 1, true) as tf.Tensor2D;
  const dx = tf.mul<tf.Tensor2D>(dz, gamma);
  const inner = tf.sub(tf.sub(tf.mul(dx, B), tf.sum(dx, 1, true)), tf.mul(f.xhat, tf.sum(tf.mul(dx, f.xhat), 1, true)));
  return { du: tf.mul<tf.Tensor2D>(inner, tf.div(f.inv, B)), dGamma, dBeta };
}

export function bnEval(u: tf.Tensor2D, s: BnState): tf.Tensor2D {
  return tf.add<tf.Tensor2D>(tf.mul(tf.mul(tf.sub(u, s.runMean), tf.rsqrt(tf.add(s.runVar, BN_EPS))), s.gamma), s.beta);
}

/** New running averages (not kept: the caller keeps what it stores). */
export function bnRunning(s: BnState, mean: tf.Tensor2D, variance: tf.Tensor2D, batch: number): { runMean: tf.Tensor2D; runVar: tf.Tensor2D } {
  const unbiased = batch > 1 ? tf.mul(variance, batch / (batch - 1)) : variance;
  return {
    runMean: tf.add<tf.Tensor2D>(tf.mul(s.runMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)),
    runVar: tf.add<tf.Tensor2D>(tf.mul(s.runVar, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)),
  };
}

export function bnDispose(s: BnState): void {
  tf.dispose([s.gamma, s.beta, s.vGamma, s.vBeta, s.runMean, s.runVar]);
}
