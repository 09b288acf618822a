/**
 * Training and evaluation batches: pixel bytes → normalized float32 (the dataset's lookup table)
 * in the layouts the engine reads, feature-major `xf` and batch-major `xb`, plus labels.
 *
 * One pass: each value is looked up once and written to both layouts (a second pass, a blocked
 * transpose of `xb`, cost more than the strided writes into `xf` it saves).
 * On wasm the values go straight into the tensors' heap memory; elsewhere into fresh arrays that
 * the backend takes over (cpu keeps the array itself, so a reused one would change a tensor
 * still alive; tfjs-node copies it).
 *
 * For a model that takes a sparse input (engine.ts: its input layer stored input-major) a batch
 * instead holds `xf` and, when few enough of its pixels differ from the background, their
 * nonzeros (`sparse`): x = background + d, d listed by sample and, for the weight gradient, by
 * feature. No `xb`: that model never reads it.
 */
import tf from '../tf.cjs';
import type { Split } from './data.js';
import type { Batch } from './engine.js';
import { wasmBackend } from './kernels/host.js';
import { productsFor } from './kernels/wasm-module.js';
import { SPARSE_BELOW, type InputForm, type InputProfile, type SparseInput } from './sparse-input.js';

/** A run of features that share one channel, i.e. one 256-entry slice of the lookup table. */
interface Run {
  readonly from: number;
  readonly to: number;
  readonly table: Float32Array;
}

/** The runs of equal offset in `lutOffset`: one for MNIST and Fashion-MNIST, three for CIFAR-10. */
function channelRuns(lut: Float32Array, lutOffset: Int32Array): readonly Run[] {
  const runs: Run[] = [];
  for (let f = 0; f < lutOffset.length;) {
    const off = lutOffset[f];
    let to = f + 1;
    while (to < lutOffset.length && lutOffset[to] === off) to++;
    runs.push({ from: f, to, table: lut.subarray(off, off + 256) });
    f = to;
  }
  return runs;
}

/** Each sample's nonzero pixels, listed when a batch first takes the sample (BatchBuilder.nonzeros). */
interface NonzeroLists {
  /** per sample, where its list starts in `feature` and `byte`; −1 until listed */
  readonly at: Int32Array;
  /** per sample, how many nonzeros it has */
  readonly length: Int32Array;
  feature: Uint16Array | Int32Array;
  byte: Uint8Array;
  /** entries of `feature` and `byte` in use */
  used: number;
  /** the split's pixels as 4-byte words, where each sample's row starts on one (dim a multiple of 4, the buffer aligned) */
  readonly words: Uint32Array | null;
}

/** Builds the batches of one split; between batches it keeps only scratch space for the nonzeros. */
export class BatchBuilder {
  private readonly runs: readonly Run[];
  /** per feature, the value of a zero byte: x = background + d */
  readonly background: Float32Array;
  /** per channel's 256 entries, the lookup table minus the channel's background */
  private readonly deltas: Float32Array;
  private readonly lutOffset: Int32Array;
  private density: number | null = null;
  private lists: NonzeroLists | null = null;
  private rows: Float32Array | null = null;

  /** how many samples its split holds */
  get samples(): number {
    return this.split.n;
  }

  constructor(private readonly split: Split, private readonly lut: Float32Array, lutOffset: Int32Array, private readonly classes: number) {
    // a feature without an offset would be left unwritten (on wasm: whatever the heap held)
    if (lutOffset.length !== split.dim) throw new Error(`BatchBuilder: ${lutOffset.length} lookup offsets for ${split.dim} features`);
    this.runs = channelRuns(lut, lutOffset);
    this.lutOffset = lutOffset;
    this.background = Float32Array.from(lutOffset, (o) => lut[o]);
    // float32(x − background), exact in float64 before the one rounding
    this.deltas = Float32Array.from(lut, (v, i) => v - lut[i - (i % 256)]);
  }

  /**
   * The background and the share of the split's pixels that differ from it (from every 16th
   * sample): an engine stores its input layer for sparse batches when that is at most
   * {@link SPARSE_BELOW}.
   */
  inputProfile(): InputProfile {
    if (this.density === null) {
      const { n, dim, pixels } = this.split;
      let nz = 0, seen = 0;
      for (let i = 0; i < n; i += 16, seen++) for (let f = i * dim, end = f + dim; f < end; f++) if (pixels[f] !== 0) nz++;
      this.density = seen ? nz / (seen * dim) : 1;
    }
    return { background: this.background, density: this.density };
  }

  /**
   * The samples `order[start] … order[start + size − 1]`, as new tensors the caller disposes. For
   * `form` 'sparse' (wasm only): `xf`, and the nonzeros when they are few enough — by feature
   * too when `byFeature` (the weight gradient reads them so; an evaluation does not).
   */
  build(order: ArrayLike<number>, start: number, size: number, form: InputForm = 'dense', byFeature = true): Batch {
    if (form === 'sparse') return this.buildSparse(order, start, size, byFeature);
    const { dim } = this.split, classes = this.classes;
    if (tf.getBackend() !== 'wasm') {
      const xf = new Float32Array(dim * size), xb = new Float32Array(dim * size);
      const onehot = new Float32Array(size * classes), labels = new Int32Array(size);
      this.fill(order, start, size, xf, xb, onehot, labels);
      return {
        size,
        xf: tf.tensor2d(xf, [dim, size]),
        xb: tf.tensor2d(xb, [size, dim]),
        onehot: tf.tensor2d(onehot, [size, classes]),
        labels: tf.tensor1d(labels, 'int32'),
      };
    }
    const be = wasmBackend(tf.backend());
    // every allocation before the first view: a malloc may grow the memory and detach views
    const infos = [be.makeOutput([dim, size], 'float32'), be.makeOutput([size, dim], 'float32'), be.makeOutput([size, classes], 'float32'), be.makeOutput([size], 'int32')];
    const onehot = be.typedArrayFromHeap(infos[2]) as Float32Array;
    // malloc'd memory holds whatever was there before
    onehot.fill(0);
    this.fill(order, start, size, be.typedArrayFromHeap(infos[0]) as Float32Array, be.typedArrayFromHeap(infos[1]) as Float32Array, onehot, be.typedArrayFromHeap(infos[3]) as Int32Array);
    const e = tf.engine();
    return {
      size,
      xf: e.makeTensorFromTensorInfo(infos[0]) as tf.Tensor2D,
      xb: e.makeTensorFromTensorInfo(infos[1]) as tf.Tensor2D,
      onehot: e.makeTensorFromTensorInfo(infos[2]) as tf.Tensor2D,
      labels: e.makeTensorFromTensorInfo(infos[3]) as tf.Tensor1D,
    };
  }

  /** `onehot` must be all zeros. */
  private fill(order: ArrayLike<number>, start: number, size: number, xf: Float32Array, xb: Float32Array, onehot: Float32Array, lab: Int32Array): void {
    // locals, not properties, in the hot loops: V8 does not hoist the loads out of them
    const { dim, pixels, labels } = this.split;
    const classes = this.classes, runs = this.runs;
    for (let s = 0; s < size; s++) {
      const idx = order[start + s];
      const base = idx * dim, row = s * dim;
      lab[s] = labels[idx];
      onehot[s * classes + labels[idx]] = 1;
      for (const { from, to, table } of runs) {
        // four independent lookups per iteration: ~1.3 µs per sample, ~2.0 with one (noisy, shared machine)
        const to4 = from + ((to - from) & ~3);
        let f = from, c = from * size + s;
        for (; f < to4; f += 4, c += 4 * size) {
          const v0 = table[pixels[base + f]], v1 = table[pixels[base + f + 1]], v2 = table[pixels[base + f + 2]], v3 = table[pixels[base + f + 3]];
          xb[row + f] = v0; xb[row + f + 1] = v1; xb[row + f + 2] = v2; xb[row + f + 3] = v3;
          xf[c] = v0; xf[c + size] = v1; xf[c + 2 * size] = v2; xf[c + 3 * size] = v3;
        }
        for (; f < to; f++, c += size) {
          const v = table[pixels[base + f]];
          xb[row + f] = v;
          xf[c] = v;
        }
      }
    }
  }

  /**
   * Lists the nonzero pixels (feature, byte) of each of `order[start] … order[start + size − 1]`
   * not listed yet, and returns the lists. A sample is listed the first time a batch takes it (a
   * scan of its bytes that skips four zero bytes at a time: 72% of MNIST's 4-byte words are zero)
   * and its list kept for the run: a batch then copies its samples' lists instead of scanning
   * 25,088 bytes (164 µs → 45 µs per batch of 32 measured here, under load). Listing the whole
   * split on the first batch instead cost 121–141 ms before the first step (MNIST's 60,000
   * training images, 27 MB of lists), most of it for samples a short run never takes.
   */
  private nonzeros(order: ArrayLike<number>, start: number, size: number): NonzeroLists {
    const { n, dim, pixels } = this.split;
    if (!this.lists) {
      // room for the density inputProfile measured, +10%; grown by doubling if a run needs more
      const cap = Math.max(dim, Math.ceil(1.1 * this.inputProfile().density * n * dim));
      const words = dim % 4 === 0 && pixels.byteOffset % 4 === 0 ? new Uint32Array(pixels.buffer, pixels.byteOffset, (n * dim) / 4) : null;
      this.lists = { at: new Int32Array(n).fill(-1), length: new Int32Array(n), feature: dim <= 65536 ? new Uint16Array(cap) : new Int32Array(cap), byte: new Uint8Array(cap), used: 0, words };
    }
    const lists = this.lists, words = lists.words;
    for (let s = 0; s < size; s++) {
      const i = order[start + s];
      if (lists.at[i] >= 0) continue;
      if (lists.used + dim > lists.byte.length) {
        const cap = 2 * lists.byte.length;
        const feature = lists.feature instanceof Uint16Array ? new Uint16Array(cap) : new Int32Array(cap), byte = new Uint8Array(cap);
        feature.set(lists.feature.subarray(0, lists.used));
        byte.set(lists.byte.subarray(0, lists.used));
        lists.feature = feature;
        lists.byte = byte;
      }
      const feature = lists.feature, byte = lists.byte, base = i * dim;
      let k = lists.used;
      if (words) {
        for (let w = base / 4, end = w + dim / 4; w < end; w++) {
          if (words[w] === 0) continue;
          for (let f = 4 * w, e = f + 4; f < e; f++) { const p = pixels[f]; if (p !== 0) { feature[k] = f - base; byte[k] = p; k++; } }
        }
      } else {
        for (let f = 0; f < dim; f++) { const p = pixels[base + f]; if (p !== 0) { feature[k] = f; byte[k] = p; k++; } }
      }
      lists.at[i] = lists.used;
      lists.length[i] = k - lists.used;
      lists.used = k;
    }
    return lists;
  }

  /** `[dim, size]` of each feature's background, the start of a sparse batch's xf (kept for the last size asked). */
  private backgroundRows(size: number): Float32Array {
    if (this.rows?.length !== this.background.length * size) {
      const dim = this.background.length, rows = new Float32Array(dim * size);
      for (let f = 0; f < dim; f++) rows.fill(this.background[f], f * size, (f + 1) * size);
      this.rows = rows;
    }
    return this.rows;
  }

  private buildSparse(order: ArrayLike<number>, start: number, size: number, byFeature: boolean): Batch {
    if (tf.getBackend() !== 'wasm') throw new Error(`sparse input batches are built on wasm only (backend: ${tf.getBackend()})`);
    const { dim, labels } = this.split;
    const classes = this.classes, lut = this.lut, deltas = this.deltas, offsets = this.lutOffset, bg = this.background;
    const lists = this.nonzeros(order, start, size), first = lists.at, length = lists.length, feature = lists.feature, byte = lists.byte;
    let nnz = 0;
    for (let s = 0; s < size; s++) nnz += length[order[start + s]];
    const sparse = nnz <= SPARSE_BELOW * size * dim;
    const be = wasmBackend(tf.backend());
    // every allocation before the first view: a malloc may grow the memory and detach views
    const infos = [be.makeOutput([dim, size], 'float32'), be.makeOutput([size, classes], 'float32'), be.makeOutput([size], 'int32')];
    const nIndex = size + 1 + nnz + (byFeature ? dim + 1 + nnz : 0), nValue = byFeature ? 2 * nnz : nnz;
    if (sparse) infos.push(be.makeOutput([Math.max(nIndex, 1)], 'int32'), be.makeOutput([Math.max(nValue, 1)], 'float32'));
    const xf = be.typedArrayFromHeap(infos[0]) as Float32Array, onehot = be.typedArrayFromHeap(infos[1]) as Float32Array, lab = be.typedArrayFromHeap(infos[2]) as Int32Array;
    const index = sparse ? be.typedArrayFromHeap(infos[3]) as Int32Array : null, value = sparse ? be.typedArrayFromHeap(infos[4]) as Float32Array : null;
    // xf: each feature's row the background, then the samples' own values where they differ;
    // by sample: the features (ascending in each list) and d = x − background
    xf.set(this.backgroundRows(size));
    onehot.fill(0);
    const ri = size + 1;
    let k = 0;
    for (let s = 0; s < size; s++) {
      const i = order[start + s];
      if (index) index[s] = k;
      for (let q = first[i], end = q + length[i]; q < end; q++, k++) {
        const f = feature[q], o = offsets[f] + byte[q];
        xf[f * size + s] = lut[o];
        if (index) { index[ri + k] = f; value![k] = deltas[o]; }
      }
      const y = labels[i];
      lab[s] = y;
      onehot[s * classes + y] = 1;
    }
    const e = tf.engine();
    const batch = {
      size,
      xf: e.makeTensorFromTensorInfo(infos[0]) as tf.Tensor2D,
      onehot: e.makeTensorFromTensorInfo(infos[1]) as tf.Tensor2D,
      labels: e.makeTensorFromTensorInfo(infos[2]) as tf.Tensor1D,
    };
    if (!index || !value) return batch;
    index[size] = nnz;
    // by feature: a counting sort of the same nonzeros, samples ascending within a feature (in
    // wasm: 11 µs for an MNIST batch, against 40 in JavaScript)
    if (byFeature) productsFor(be.wasm.asm.memory).sparse_by_feature(be.getMemoryOffset(infos[3].dataId), be.getMemoryOffset(infos[4].dataId), size, nnz, dim);
    const input: SparseInput = { background: bg, nnz, byFeature, index: e.makeTensorFromTensorInfo(infos[3]) as tf.Tensor1D, value: e.makeTensorFromTensorInfo(infos[4]) as tf.Tensor1D };
    return { ...batch, sparse: input };
  }
}

export function disposeBatch(b: Batch): void {
  tf.dispose([b.xf, b.onehot, b.labels, ...(b.xb ? [b.xb] : []), ...(b.sparse ? [b.sparse.index, b.sparse.value] : [])]);
}
