import tf from '../tf.cjs';
import { canSaturate, SELU_ALPHA, SELU_SCALE, specOf } from '../activations/index.js';
import { defineKernel, RAW_DERIVATIVE } from '../host-kernels.js';
import { ProbeId } from './ids.js';
import { joinValues } from './host.js';
import type { LayerInfo, LayerProbe, ProbeSettings } from './probe.js';
import { Metric } from '../trace/metrics.js';

const frac = (mask: tf.Tensor): tf.Scalar => tf.mean(tf.cast(mask, 'float32'));

/** One pass over a and z: [sat_frac, sat_low, sat_high, mean_deriv], without sat_high when the activation is unbounded above. */
const stats = defineKernel<{ act: string; lo: number; hi: number }>({
  name: 'ProbeSaturation',
  inputs: ['a', 'z'],
  host([a, z], { act, lo, hi }) {
    const n = a.length;
    let low = 0, high = 0;
    for (let i = 0; i < n; i++) { const v = a[i]; if (v < lo) low++; else if (v > hi) high++; }
    const deriv = specOf(act)!.meanDf(z, a);
    return hi === Infinity ? [low / n, low / n, deriv] : [(low + high) / n, low / n, high / n, deriv];
  },
  wasm(stats, [a, z], { act, lo, hi }, [shape]) {
    // the derivative from a (z for selu) as the spec's meanDf writes it; other activations: the loop
    if (act !== 'sigmoid' && act !== 'tanh' && act !== 'selu') return null;
    const n = shape.reduce((x, y) => x * y, 1);
    const [low, high, sum] = stats.saturation(act, a, z, n, lo, hi, SELU_SCALE, SELU_SCALE * SELU_ALPHA);
    const deriv = sum / n;
    return hi === Infinity ? [low / n, low / n, deriv] : [(low + high) / n, low / n, high / n, deriv];
  },
  device([a, z], { act, lo, hi }) {
    const low = frac(tf.less(a, lo));
    const deriv = tf.mean(specOf(act)!.derivative(tf, z as tf.Tensor2D, a as tf.Tensor2D));
    if (hi === Infinity) return tf.stack([low, low, deriv]) as tf.Tensor1D;
    const high = frac(tf.greater(a, hi));
    return tf.stack([tf.add(low, high), low, high, deriv]) as tf.Tensor1D;
  },
  // the derivative as the activation's spec writes it, in raw ops (tf-raw.ts RAW_DERIVATIVE)
  tensorflow(r, { a, z }, { act, lo, hi }) {
    const derivative = RAW_DERIVATIVE[act];
    if (!derivative) throw new Error(`no fused tfjs-node derivative for activation '${act}'`);
    const low = r.share('Less', a, r.f(lo));
    const deriv = r.reduce('Mean', derivative(r, z, a));
    if (hi === Infinity) return [r.pack([low, low, deriv])];
    const high = r.share('Greater', a, r.f(hi));
    return [r.pack([r.one('AddV2', [low, high]), low, high, deriv])];
  },
});

/**
 * The output layer's share of entries saturated on the wrong side: a below the band's low end
 * while dL/da < 0 (the loss wants it higher), or above its high end while dL/da > 0. a and g
 * (dL/da) in the same layout. NaN in either is not counted.
 */
const wrongSide = defineKernel<{ lo: number; hi: number }>({
  name: 'ProbeSaturationWrongSide',
  inputs: ['a', 'g'],
  host([a, g], { lo, hi }) {
    const n = a.length;
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const v = a[i], d = g[i];
      if ((v < lo && d < 0) || (v > hi && d > 0)) wrong++;
    }
    return [wrong / n];
  },
  device([a, g], { lo, hi }) {
    const low = tf.logicalAnd(tf.less(a, lo), tf.less(g, 0));
    const high = tf.logicalAnd(tf.greater(a, hi), tf.greater(g, 0));
    return tf.reshape(frac(tf.logicalOr(low, high)), [1]) as tf.Tensor1D;
  },
});

/** The saturation rule of a layer's activation with the run's thresholds, or null when it cannot saturate. */
function bounds(layer: LayerInfo, s: ProbeSettings): { lo: number; hi: number } | null {
  const spec = specOf(layer.activation);
  if (!spec || !canSaturate(spec)) return null;
  return { lo: spec.saturation.low(s), hi: spec.saturation.high ? spec.saturation.high(s) : Infinity };
}

/**
 * How much of a layer's output sits where its activation saturates, and the mean local
 * derivative — the factor by which the layer scales the gradient flowing back through it (H2).
 * What "saturated" means is each activation's spec (src/activations): sigmoid a < sigmoidLow or
 * a > sigmoidHigh; tanh |a| > tanhSat; selu only low, a < −seluSat·λα (towards its negative
 * asymptote). Layers whose activation cannot saturate record nothing.
 *
 * On the output layer the loss decides which extreme is right (a trained sigmoid output has the
 * label's unit near 1 and the others near 0), so it also records `sat_wrong_frac`: the entries at an
 * extreme while dL/da points back out of it, read from the loop's own gradient at the output
 * (NetworkTensors.outputGrad) — its sign, which dL/dz loses where f′(z) underflows to 0.
 */
export const saturation: LayerProbe = {
  id: ProbeId.saturation,
  scope: 'layer',
  reads: ['forward'],
  kernels: [...stats.configs, ...wrongSide.configs],
  description: 'share of outputs where the activation saturates (sigmoid, tanh, selu), and the mean local derivative; on the output layer also the share saturated on the side the loss pushes away from',
  metrics(layer, settings) {
    const b = bounds(layer, settings);
    if (!b) return [];
    const plain = b.hi === Infinity ? [Metric.satFrac, Metric.satLow, Metric.meanDeriv] : [Metric.satFrac, Metric.satLow, Metric.satHigh, Metric.meanDeriv];
    return layer.isOutput ? [...plain, Metric.satWrongFrac] : plain;
  },
  compute({ layer, forward: { a, z }, outputGrad, settings }) {
    const b = bounds(layer, settings);
    if (!b) throw new Error(`saturation does not apply to ${layer.activation}`);
    const attrs = { act: specOf(layer.activation)!.name, ...b };
    // tfjs-node's raw form knows the derivatives of RAW_DERIVATIVE; other activations take the composite there
    const plain = tf.getBackend() === 'tensorflow' && !Object.hasOwn(RAW_DERIVATIVE, attrs.act) ? stats.device([a, z], attrs) : stats.eager([a, z], attrs);
    if (!layer.isOutput) return plain;
    if (outputGrad && String(outputGrad.shape) !== String(a.shape)) throw new Error(`layer ${layer.layer}: dL/da of shape [${outputGrad.shape}] for outputs of shape [${a.shape}]`);
    // without dL/da the share is not known: NaN, never the plain share in its place
    const wrong = outputGrad ? wrongSide.eager([a, outputGrad], b) : [NaN];
    return joinValues([plain, wrong]);
  },
};

