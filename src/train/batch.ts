import * as tf from '@tensorflow/tfjs';
import type { Split } from './data.js';
import type { Batch } from './engine.js';

/** Reusable host buffers for one batch size. */
export class BatchBuilder {
  private readonly bufs = new Map<number, { xf: Float32Array; xb: Float32Array; onehot: Float32Array; labels: Int32Array }>();
  constructor(private readonly split: Split, private readonly lut: Float32Array, private readonly lutOffset: Int32Array, private readonly classes: number) {}

  build(order: ArrayLike<number>, start: number, size: number): Batch {
    const { dim, pixels, labels } = this.split;
    let b = this.bufs.get(size);
    if (!b) {
      b = { xf: new Float32Array(dim * size), xb: new Float32Array(dim * size), onehot: new Float32Array(size * this.classes), labels: new Int32Array(size) };
      this.bufs.set(size, b);
    }
    // locals, not properties, in the hot loops: V8 does not hoist the loads out of them
    const { xf, xb, onehot, labels: lab } = b;
    const lut = this.lut, off = this.lutOffset, classes = this.classes;
    onehot.fill(0);
    for (let s = 0; s < size; s++) {
      const idx = order[start + s];
      const base = idx * dim, row = s * dim;
      for (let f = 0; f < dim; f++) xb[row + f] = lut[off[f] + pixels[base + f]];
      lab[s] = labels[idx];
      onehot[s * classes + labels[idx]] = 1;
    }
    transposeInto(xb, size, dim, xf);
    return {
      size,
      xf: tf.tensor2d(b.xf, [dim, size]),
      xb: tf.tensor2d(b.xb, [size, dim]),
      onehot: tf.tensor2d(b.onehot, [size, this.classes]),
      labels: tf.tensor1d(b.labels, 'int32'),
    };
  }
}

export function disposeBatch(b: Batch): void {
  tf.dispose([b.xf, b.xb, b.onehot, b.labels]);
}

/** out[c·rows + r] = m[r·cols + c], in 32×32 blocks that stay in cache. */
export function transposeInto(m: Float32Array, rows: number, cols: number, out: Float32Array): void {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = m[r * cols + c];
    }
  }
}
