/**
 * tfjs layers compute sample-major (`[batch, …positions, units]`); probes read the engine's
 * feature-major layout (`[units, columns]`, see train/hooks.ts). These convert once per probed step.
 */
import tf from '../tf.cjs';

/** `[N, …P, C]` → `[C, N·P]`: one row per unit, columns sample by sample (positions within a sample). */
export function featureMajor(t: tf.Tensor): tf.Tensor2D {
  const c = t.shape[t.rank - 1];
  return tf.transpose(tf.reshape(t, [-1, c])) as tf.Tensor2D;
}

/**
 * `[N, …P, C]` → `[C, N]`: the largest value of each unit over each sample's positions, or null for
 * `[N, C]` (nothing to reduce). A channel is inactive on a sample iff this is ≤ 0, which is what
 * makes a channel a unit for the dead-ReLU probe.
 */
export function unitMax(t: tf.Tensor): tf.Tensor2D | null {
  if (t.rank <= 2) return null;
  const [n] = t.shape, c = t.shape[t.rank - 1];
  return tf.transpose(tf.max(tf.reshape(t, [n, -1, c]), 1)) as tf.Tensor2D;
}
