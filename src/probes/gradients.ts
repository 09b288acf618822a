import tf from '../tf.cjs';
import { defineKernel } from '../host-kernels.js';
import { ProbeId } from './ids.js';
import type { LayerProbe } from './probe.js';
import { Metric } from '../trace/metrics.js';

/**
 * ‖ΔW‖ / ‖W‖ from Σv² and Σw² (ΔW = lr·v): no update is 0; when a sum of squares overflowed
 * float32 (‖·‖ > 1.8e19) the ratio is not known and is NaN — never the 0 that finite / ∞ gives,
 * which would say 'no update' of the layers with the largest ones.
 */
function updateRatio(lr: number, sv: number, sw: number): number {
  if (!Number.isFinite(sv + sw)) return NaN;
  return sv === 0 ? 0 : (lr * Math.sqrt(sv)) / Math.sqrt(sw);
}

/**
 * One pass over dL/dz plus the moments the optimizer computed in its own pass over the weights
 * (wm, bm = [Σg², max|g|, Σv², Σw²]) → the seven figures below.
 */
const figures = defineKernel<{ lr: number; w: boolean; b: boolean }>({
  name: 'ProbeGradients',
  inputs: ['wm', 'bm', 'dz'],
  host([wm, bm, dz], { lr, w, b }) {
    let s = 0, m = 0;
    for (let i = 0; i < dz.length; i++) { const x = dz[i]; s += x * x; const a = Math.abs(x); if (a > m) m = a; }
    return [
      ...(w ? [Math.sqrt(wm[0]), wm[1]] : []), ...(b ? [Math.sqrt(bm[0]), bm[1]] : []),
      Math.sqrt(s), m, ...(w ? [updateRatio(lr, wm[2], wm[3])] : []),
    ];
  },
  wasm(stats, [wm, bm, dz], { lr, w, b }, [, , dzShape]) {
    const [s, m] = stats.sumSquaresMax(dz, dzShape.reduce((x, y) => x * y, 1));
    const W = stats.floats(wm, 4), B = stats.floats(bm, 4);
    return [
      ...(w ? [Math.sqrt(W[0]), W[1]] : []), ...(b ? [Math.sqrt(B[0]), B[1]] : []),
      Math.sqrt(s), m, ...(w ? [updateRatio(lr, W[2], W[3])] : []),
    ];
  },
  device([wm, bm, dz], { lr, w, b }) {
    const at = (t: tf.Tensor, i: number) => tf.squeeze(tf.slice(t, [i], [1]));
    return tf.stack([
      ...(w ? [tf.sqrt(at(wm, 0)), at(wm, 1)] : []), ...(b ? [tf.sqrt(at(bm, 0)), at(bm, 1)] : []),
      tf.sqrt(tf.sum(tf.square(dz))), tf.max(tf.abs(dz)),
      ...(w ? [(() => {
        const sv = at(wm, 2), sw = at(wm, 3);
        const ratio = tf.where(tf.equal(sv, 0), tf.scalar(0), tf.div(tf.mul(tf.sqrt(sv), lr), tf.sqrt(sw)));
        return tf.where(tf.isFinite(tf.add(sv, sw)), ratio, tf.scalar(NaN));
      })()] : []),
    ]) as tf.Tensor1D;
  },
  tensorflow(r, { wm, bm, dz }, { lr }) {
    const sw = r.one('Sqrt', [wm]);
    const all = r.concat([sw, wm, r.one('Sqrt', [bm]), bm, r.pack([r.reduce('EuclideanNorm', dz), r.reduce('Max', r.one('Abs', [dz]))])]);
    const sv2 = r.gather(wm, [2]), sw2 = r.gather(wm, [3]);
    const raw = r.one('Mul', [r.one('RealDiv', [r.gather(sw, [2]), r.gather(sw, [3])]), r.f(lr)]);
    const ratio = r.one('SelectV2', [r.one('IsFinite', [r.one('AddV2', [sv2, sw2])]), r.one('SelectV2', [r.one('Equal', [sv2, r.f(0)]), r.f(0), raw]), r.f(NaN)]);
    return [r.concat([r.gather(all, [0, 5, 8, 13, 16, 17]), ratio])];
  },
});

/**
 * Size of the backward signal in each layer: L2 norm and largest magnitude of dL/dW, dL/db and
 * dL/dz (the loss is the batch mean), and `update_ratio` = ‖ΔW‖ / ‖W‖, the relative size of the
 * step the optimizer took on the weights (ΔW = lr · velocity for SGD with momentum).
 */
export const gradients: LayerProbe = {
  id: ProbeId.gradients,
  scope: 'layer',
  reads: ['backward', 'update'],
  kernels: figures.configs,
  description: 'L2 norm and max |·| of dL/dW, dL/db, dL/dz; update-to-weight norm ratio',
  metrics(layer) {
    // a layer without weights or bias gets no figures for them, rather than zeros
    const w = layer.hasWeights !== false, b = layer.hasBias !== false;
    return [...(w ? [Metric.wGradNorm, Metric.wGradMax] : []), ...(b ? [Metric.bGradNorm, Metric.bGradMax] : []), Metric.zGradNorm, Metric.zGradMax, ...(w ? [Metric.updateRatio] : [])];
  },
  compute({ layer, backward: { dz }, update: { wMoments, bMoments, lr } }) {
    return figures.eager([wMoments, bMoments, dz], { lr, w: layer.hasWeights !== false, b: layer.hasBias !== false });
  },
};
