/**
 * A mostly-background input as the engine takes it (batch.ts builds it, kernels/sparse.ts
 * computes with it): x = background + d, with d listed by its nonzeros.
 */
import type tf from '../tf.cjs';

/**
 * A batch goes sparse when at most this share of its pixels differ from the background, and an
 * engine stores its input layer for sparse batches when its dataset's share is at most this.
 * Measured on this machine (the study's first layer, batch 32, one product at a time, under load):
 * the sparse forward took 0.27 ms at MNIST's 17.5% and 0.69 ms at Fashion-MNIST's 45.6%, the dense
 * one 0.52–0.56 ms; the sparse update 0.50 and 0.65 ms, the dense one 0.73–0.98 ms.
 */
export const SPARSE_BELOW = 0.35;

/** How a model reads its input batches: `sparse` when its input layer is stored for it. */
export type InputForm = 'dense' | 'sparse';

/** What an engine needs to know of its input to store its input layer for sparse batches. */
export interface InputProfile {
  /** per feature, the value of a zero byte */
  readonly background: Float32Array;
  /** the share of the dataset's pixels that differ from it */
  readonly density: number;
}

/** A batch's nonzeros, on the wasm heap. */
export interface SparseInput {
  /** the background the nonzeros are relative to (the builder's) */
  readonly background: Float32Array;
  readonly nnz: number;
  /** whether the lists by feature are there too (the weight gradient reads them) */
  readonly byFeature: boolean;
  /**
   * int32: per sample its first nonzero (N + 1 starts), the nonzeros' features by sample; then,
   * with `byFeature`, per feature its first nonzero (K + 1 starts), the nonzeros' samples by feature
   */
  readonly index: tf.Tensor1D;
  /** float32: d at the nonzeros by sample, then (with `byFeature`) by feature */
  readonly value: tf.Tensor1D;
}
