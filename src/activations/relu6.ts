import { defineActivation, type ActivationSpec } from './spec.js';

/** The largest float32 below m (m > 0, taken as float32): a float32 output above it equals the cap. */
function belowF32(m: number): number {
  const f = new Float32Array([m]);
  new Int32Array(f.buffer)[0] -= 1;
  return f[0];
}

/**
 * min(max(0, z), m), a ReLU capped at m > 0 (tfjs's ReLU layer with `maxValue`): dies below 0 like
 * relu, and is flat above m.
 */
export function cappedRelu(max: number, name = `relu(maxValue=${max})`): ActivationSpec {
  const cap = Math.fround(max), top = belowF32(cap);
  return defineActivation({
    name,
    formula: `min(max(0, z), ${max})`,
    kinks: [0, max],
    f: (z) => Math.min(Math.max(0, z), cap),
    df: (z) => (z > 0 && z < cap ? 1 : 0),
    meanDf(z) {
      let s = 0;
      for (let i = 0; i < z.length; i++) s += z[i] > 0 && z[i] < cap ? 1 : 0;
      return s / z.length;
    },
    forward: (tf, z) => (cap === 6 ? tf.relu6(z) : tf.clipByValue(z, 0, cap)),
    derivative: (tf, z) => tf.mul(tf.step(z), tf.step(tf.sub(cap, z))),
    // a = cap exactly: its derivative is 0 there, not nearly 0; above `top` (the largest float32 below the cap) a is the cap
    saturation: { low: () => 0, high: () => top, setting: `none: exactly ${max} (z ≥ ${max})` },
    death: { zAtMost: 0 },
  });
}

/** min(max(0, z), 6) (tfjs 'relu6', PyTorch nn.ReLU6). */
export const relu6 = cappedRelu(6, 'relu6');
