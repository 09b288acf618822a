/**
 * Feeding a dataset to a model whose input has its own shape: flat (`[784]`), an image
 * (`[28, 28, 1]`, channels last), or `[28, 28]` for one channel. CIFAR-10's bytes are planar
 * (red plane, green, blue); a channels-last image input gets them interleaved.
 */
import tf from '../tf.cjs';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { loadDataset, type Dataset, type LoadOptions, type Split } from '../train/data.js';

/** Height, width and channels of a dataset's images. */
export function imageShape(d: Pick<Dataset, 'name' | 'train'>): { h: number; w: number; c: number } {
  if (d.name === 'cifar10') return { h: 32, w: 32, c: 3 };
  const side = Math.round(Math.sqrt(d.train.dim));
  return { h: side, w: side, c: 1 };
}

export interface InputLayout {
  /** the model's input shape without the batch axis */
  readonly shape: readonly number[];
  /** bytes are planar and the input wants channels last */
  readonly interleave: boolean;
}

/** How the dataset's samples fill the model's input, or a one-line error naming both shapes. */
export function matchInput(path: string, modelShape: readonly (number | null)[], d: Pick<Dataset, 'name' | 'train'>): InputLayout {
  const shape = modelShape.slice(1);
  const { h, w, c } = imageShape(d);
  const dim = d.train.dim;
  const same = (a: readonly (number | null)[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  if (same(shape, [dim])) return { shape: [dim], interleave: false };
  if (same(shape, [h, w, c])) return { shape: [h, w, c], interleave: c > 1 };
  if (c === 1 && same(shape, [h, w])) return { shape: [h, w], interleave: false };
  const accepted = [`[${dim}]`, `[${h},${w},${c}]`, ...(c === 1 ? [`[${h},${w}]`] : [])];
  throw new ProbeError(ErrorCode.config, msg.modelInputMismatch(path, `[${shape.map((v) => v ?? '?').join(',')}]`, d.name, `${h}×${w}×${c}`, accepted));
}

/** One batch, sample-major in the model's input shape, and one-hot targets. */
export class InputBatches {
  private readonly x: Float32Array;
  private readonly y: Float32Array;
  constructor(private readonly split: Split, private readonly d: Pick<Dataset, 'lut' | 'lutOffset' | 'classes' | 'name' | 'train'>, private readonly layout: InputLayout, maxBatch: number) {
    this.x = new Float32Array(maxBatch * split.dim);
    this.y = new Float32Array(maxBatch * d.classes);
  }

  build(order: ArrayLike<number>, start: number, size: number): { xs: tf.Tensor; ys: tf.Tensor2D } {
    const { dim, pixels, labels } = this.split;
    const { lut, lutOffset: off, classes } = this.d;
    const { h, w, c } = imageShape(this.d);
    const hw = h * w;
    const x = this.x, y = this.y;
    y.fill(0, 0, size * classes);
    for (let s = 0; s < size; s++) {
      const idx = order[start + s], base = idx * dim, row = s * dim;
      if (this.layout.interleave) {
        for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) {
          const f = ch * hw + p;
          x[row + p * c + ch] = lut[off[f] + pixels[base + f]];
        }
      } else {
        for (let f = 0; f < dim; f++) x[row + f] = lut[off[f] + pixels[base + f]];
      }
      y[s * classes + labels[idx]] = 1;
    }
    return {
      // copies: the cpu backend would keep a reference to a buffer reused for the next batch
      xs: tf.tensor(x.slice(0, size * dim), [size, ...this.layout.shape]),
      ys: tf.tensor2d(y.slice(0, size * classes), [size, classes]),
    };
  }
}

export interface TensorData {
  readonly xTrain: tf.Tensor;
  readonly yTrain: tf.Tensor2D;
  readonly xTest: tf.Tensor;
  readonly yTest: tf.Tensor2D;
  readonly dataset: Dataset;
}

/**
 * A dataset as tensors for `model.fit`, normalized as probe normalizes it, in the input shape
 * the model wants (`[784]`, `[28, 28, 1]`, …; default flat), targets one-hot.
 *
 * @example
 * ```ts
 * const { xTrain, yTrain, xTest, yTest } = loadTensors({ shape: [28, 28, 1], trainLimit: 6400 });
 * ```
 */
export function loadTensors(opts: LoadOptions & { readonly shape?: readonly number[] } = {}): TensorData {
  const d = loadDataset(opts);
  const layout = matchInput('loadTensors', [null, ...(opts.shape ?? [d.train.dim])], d);
  const all = (split: Split) => {
    const order = Uint32Array.from({ length: split.n }, (_, i) => i);
    return new InputBatches(split, { ...d, train: split }, layout, split.n).build(order, 0, split.n);
  };
  const train = all(d.train), test = all(d.test);
  return { xTrain: train.xs, yTrain: train.ys, xTest: test.xs, yTest: test.ys, dataset: d };
}
