import * as tf from '@tensorflow/tfjs';
import { fillFeatureMajor, type Split } from './data.js';
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
    fillFeatureMajor(this.split, this.lut, this.lutOffset, order, start, size, b.xf);
    b.onehot.fill(0);
    for (let s = 0; s < size; s++) {
      const idx = order[start + s];
      const base = idx * dim;
      for (let f = 0; f < dim; f++) b.xb[s * dim + f] = this.lut[this.lutOffset[f] + pixels[base + f]];
      b.labels[s] = labels[idx];
      b.onehot[s * this.classes + labels[idx]] = 1;
    }
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
