/**
 * The training step, in two interchangeable engines:
 *
 * - `fast`: forward and backward written out by hand. Activations are kept feature-major
 *   (`[units, batch]`) and weights as `[fanOut, fanIn]`, so every matrix product has the large
 *   matrix as its left operand and a batch-sized right operand. On tfjs-backend-wasm that matters:
 *   XNNPACK repacks the right operand of every product, and products with transposed operands fall
 *   back to a slow loop (see bench/ and docs in README).
 * - `tape`: the same model differentiated by tfjs autodiff (`tf.valueAndGrads`). Slower; it is the
 *   reference the fast engine is tested against.
 *
 * Both apply PyTorch's SGD with momentum (v ← μv + g; w ← w − lr·v) and report, through
 * {@link TensorHooks}, the same tensors in the same layout.
 */
import { createRequire } from 'node:module';
import tf from '../tf.cjs';
import type { TrainedActivation } from '../activations/index.js';
import type { Architecture, LayerParams } from './model.js';
import { joinStepValues, type TensorHooks, type StepInfo } from './hooks.js';
import { activate } from './activation-ops.js';
import { sgdMomentum, type SgdResult } from './kernels/sgd.js';
import { dense, weightGrad } from './kernels/products.js';
import { activateFused, backActivation, backDataActivation, backDataActivationT, biasGradSgd, denseActivate, fusedActivation, weightUpdate, type FusedActivation } from './kernels/fused.js';
import { ownProducts } from './kernels/products.js';
import { fromInputLayout, inputWeightUpdate, sparseDenseActivate, toInputLayout } from './kernels/sparse.js';
import { SPARSE_BELOW, type InputForm, type InputProfile, type SparseInput } from './sparse-input.js';
import { BN_EPS, bnBackward, bnDispose, bnEval, bnForward, bnInit, bnRunning, type BnForward, type BnState } from './batchnorm.js';
import { softmaxCrossEntropy } from './kernels/softmax-xent.js';
import { concatVectors, HOST_BACKENDS, view } from './kernels/host.js';

import type { EngineKind } from './choices.js';

/**
 * tfjs-core registers no gradient functions (tf.cts loads the core only): the @tensorflow/tfjs
 * bundle registers them all as it loads. The tape engine differentiates with them, so a tape model
 * loads the bundle, through tf-layers.cts, the one module that loads it; the fast engine never
 * differentiates with tfjs and never does. (Required, not imported: the constructor is synchronous.)
 */
function registerGradients(): void {
  createRequire(import.meta.url)('../tf-layers.cjs');
}

export { EngineKind, isEngineKind } from './choices.js';

/** One batch on the device, in the layouts the step needs. */
export interface Batch {
  readonly size: number;
  /** `[features, batch]` */
  readonly xf: tf.Tensor2D;
  /** `[batch, features]`, for a model whose input form is dense (made from xf when absent) */
  readonly xb?: tf.Tensor2D;
  /** the nonzeros of x − background, for a model whose input form is sparse, when the batch has few */
  readonly sparse?: SparseInput;
  /** one-hot labels `[batch, classes]`, float32 */
  readonly onehot: tf.Tensor2D;
  /** `[batch]` int32 */
  readonly labels: tf.Tensor1D;
}

/** What an evaluation reads: a batch's inputs (its nonzeros too, for a sparse input form) and labels. */
export type EvalInput = Pick<Batch, 'xf' | 'onehot' | 'sparse'>;

/** What {@link Mlp.evaluateDetail} reads back: per layer, feature-major `[units, n]`. */
export interface EvalDetail {
  readonly lossSum: number;
  readonly correct: number;
  readonly layers: readonly { readonly z: Float32Array; readonly a: Float32Array; readonly gradNorm: Float32Array }[];
}

export interface Optimizer {
  readonly lr: number;
  readonly momentum: number;
}

interface LayerState {
  w: tf.Tensor2D;
  b: tf.Tensor2D;
  /** momentum buffers, zero at first: v' = 0·μ + g = g, PyTorch's first step exactly */
  vw: tf.Tensor2D;
  vb: tf.Tensor2D;
  /** batch normalization before the activation, when on for this layer */
  bn: BnState | null;
  /** the input layer stored input-major (w, vw `[fanIn, fanOut]`): W·background, kept by each update (kernels/sparse.ts) */
  wbg?: tf.Tensor1D;
}

/** A layer's tensors that a step changes, named. */
function stateTensors(l: LayerState): [string, tf.Tensor2D][] {
  const out: [string, tf.Tensor2D][] = [['w', l.w], ['b', l.b], ['vw', l.vw], ['vb', l.vb]];
  if (l.bn) for (const k of ['gamma', 'beta', 'vGamma', 'vBeta', 'runMean', 'runVar'] as const) out.push([k, l.bn[k]]);
  return out;
}

/** The input layer's stored weights (`[K, M]` floats in the sparse form's layout) as `[M, K]`. */
const unstored = (t: tf.Tensor2D): Float32Array => fromInputLayout(t.dataSync() as Float32Array, t.shape[1], t.shape[0]);

/** W·background for weights `w` `[M, K]` (K = bg's length), summed in float64, features in order. */
function backgroundProduct(w: ArrayLike<number>, M: number, bg: ArrayLike<number>): Float32Array {
  const out = new Float64Array(M), K = bg.length;
  for (let f = 0; f < K; f++) for (let j = 0; j < M; j++) out[j] += w[j * K + f] * bg[f];
  return Float32Array.from(out);
}

/** What a step reads back: the loss (and the probes' tensor) from the device, then numbers the probes computed on the host. */
interface StepOut {
  readonly values: tf.Tensor1D;
  readonly host: Float32Array | null;
}

/** The tape's loss: the batch's mean of −log softmax(a) at the label, for `a` `[classes, batch]` (log-softmax + NLL, as PyTorch). */
function meanCrossEntropy(a: tf.Tensor2D, onehot: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(tf.transpose(a))), 1))) as tf.Scalar;
}

/** A layer's gradients; the fast engine hands over the weights' update already done (`W`), not dW. */
type Grads = ({ dW: tf.Tensor2D; W?: undefined } | { W: SgdResult; dW?: undefined }) & { db: tf.Tensor2D; B?: SgdResult; dGamma?: tf.Tensor2D; dBeta?: tf.Tensor2D; wbg?: tf.Tensor1D };

export class Mlp {
  readonly acts: readonly TrainedActivation[];
  private layers: LayerState[];
  /**
   * `sparse`: the input layer is stored input-major and takes batches' nonzeros (kernels/sparse.ts;
   * batch.ts builds such batches). Chosen at construction: the fast engine on the own wasm kernels,
   * no batch norm and a fused activation on the input layer, and an input whose share of
   * non-background pixels is at most SPARSE_BELOW; `PROBE_SPARSE=0` keeps it dense (tests and the
   * bench compare both).
   */
  readonly inputForm: InputForm;
  /** The {@link inputForm} a model of these settings takes on the current backend. */
  static inputFormFor(activations: readonly TrainedActivation[], engine: EngineKind, bn: readonly boolean[], input: InputProfile | null): InputForm {
    const sparse = input !== null && input.density <= SPARSE_BELOW && engine === 'fast' && !bn[0] && fusedActivation(activations[0]) && ownProducts() && process.env.PROBE_SPARSE !== '0';
    return sparse ? 'sparse' : 'dense';
  }

  /** the input's background `[fanIn]`, when the input form is sparse */
  private readonly background: tf.Tensor1D | null = null;
  /** its values, and the last batch's background found equal to them */
  private readonly backgroundValues: Float32Array | null = null;
  private backgroundSeen: Float32Array | null = null;

  constructor(
    readonly arch: Architecture,
    params: readonly LayerParams[],
    readonly opt: Optimizer,
    readonly engine: EngineKind = 'fast',
    /** per layer: batch normalization before its activation */
    bn: readonly boolean[] = [],
    /** the input's background and density, for a sparse input form (none: dense) */
    input: InputProfile | null = null,
  ) {
    this.acts = arch.activations;
    if (engine === 'tape') registerGradients();
    this.inputForm = Mlp.inputFormFor(arch.activations, engine, bn, input);
    const bg = this.inputForm === 'sparse' ? input!.background : null;
    this.layers = params.map((p, i) => {
      if (!(bg && i === 0)) {
        return { w: tf.tensor2d(p.w, [p.fanOut, p.fanIn]), b: tf.tensor2d(p.b, [p.fanOut, 1]), vw: tf.zeros([p.fanOut, p.fanIn]) as tf.Tensor2D, vb: tf.zeros([p.fanOut, 1]) as tf.Tensor2D, bn: bn[i] ? bnInit(p.fanOut) : null };
      }
      // stored input-major in column blocks (kernels/sparse.ts), and W·background for the first forward
      return { w: tf.tensor2d(toInputLayout(p.w, p.fanOut, p.fanIn), [p.fanIn, p.fanOut]), b: tf.tensor2d(p.b, [p.fanOut, 1]), vw: tf.zeros([p.fanIn, p.fanOut]) as tf.Tensor2D, vb: tf.zeros([p.fanOut, 1]) as tf.Tensor2D, bn: null, wbg: tf.tensor1d(backgroundProduct(p.w, p.fanOut, bg)) };
    });
    if (bg) {
      this.backgroundValues = Float32Array.from(bg);
      this.background = tf.tensor1d(this.backgroundValues);
    }
  }

  /**
   * One optimizer step. Returns the loss followed by whatever `hooks.onStepTensors` returned,
   * read back from the device in a single transfer.
   */
  step(batch: Batch, hooks: TensorHooks | null, info: StepInfo): Float32Array {
    const old = this.layers.map((l) => ({ ...l }));
    // the probes' host numbers leave the tidy beside it, not through it (tidy walks what it returns)
    let host: Float32Array | null = null;
    const values = tf.tidy(() => {
      const out = this.engine === 'fast' ? this.fastStep(batch, hooks, info) : this.tapeStep(batch, hooks, info);
      host = out.host;
      return out.values;
    });
    for (let i = 0; i < old.length; i++) {
      const o = old[i], n = this.layers[i];
      for (const k of ['w', 'b', 'vw', 'vb', 'wbg'] as const) if (o[k] !== n[k]) o[k]?.dispose();
      if (o.bn && n.bn) for (const k of ['gamma', 'beta', 'vGamma', 'vBeta', 'runMean', 'runVar'] as const) if (o.bn[k] !== n.bn[k]) o.bn[k].dispose();
    }
    const read = values.dataSync() as Float32Array;
    values.dispose();
    // probes computed on the host: their numbers follow the loss without a device round trip
    return joinStepValues(read, host);
  }

  private fastStep(batch: Batch, hooks: TensorHooks | null, info: StepInfo): StepOut {
    const L = this.layers.length;
    const inputs: tf.Tensor2D[] = [batch.xf];
    // batch-major copies of the inputs where the forward kernel wrote them (wasm), for dW
    const inputsT: (tf.Tensor2D | undefined)[] = [batch.xb];
    const zs: tf.Tensor2D[] = [];
    const norms: (BnForward | null)[] = [];
    for (let i = 0; i < L; i++) {
      const { w, b, bn } = this.layers[i];
      // without batch norm the activation runs in the product's epilogue (kernels/fused.ts)
      const norm = bn ? bnForward(dense(w, inputs[i], b), bn.gamma, bn.beta) : null;
      const { z, a, aT } = norm ? { z: norm.z, a: activateFused(norm.z, this.acts[i]), aT: undefined } : this.forwardLayer(i, inputs[i], batch.sparse, i < L - 1);
      inputsT.push(aT);
      zs.push(z);
      norms.push(norm);
      inputs.push(a);
      hooks?.onForward?.({ layer: i + 1, activation: this.acts[i], input: inputs[i], z, a }, info);
    }
    const output = inputs[L];
    const { loss, grad } = softmaxCrossEntropy(output, batch.labels, batch.onehot);
    const { lr, momentum } = this.opt;
    // the optimizer's moments only where a hook reads them (half the arithmetic of its pass)
    const moments = !!hooks?.onUpdate && (hooks.wantsMoments?.(info) ?? true);
    // dL/dz of the layer being differentiated: at the output from the loss's gradient, below it
    // from the product that carries the signal down, with the activation's derivative fused in
    let dz = backActivation(grad, zs[L - 1], output, this.acts[L - 1]);
    // an input-major input layer's update reads its dz batch-major too
    let dzT: tf.Tensor2D | null = null;
    const grads: Grads[] = new Array(L);
    for (let i = L - 1; i >= 0; i--) {
      const norm = norms[i], layer = this.layers[i], bn = layer.bn;
      const back = norm && bn ? bnBackward(dz, norm, bn.gamma) : null;
      const du = back ? back.du : dz;
      // the input batch-major, for the kernels that read it (made once, only if one does)
      let xb: tf.Tensor2D | undefined = inputsT[i];
      const inputT = () => (xb ??= tf.transpose(inputs[i]) as tf.Tensor2D);
      // the signal to the layer below from the weights before this step's update
      let below: tf.Tensor2D | null = null;
      if (i === 1 && this.inputForm === 'sparse') ({ dz: below, dzT } = backDataActivationT(layer.w, du, zs[0], inputs[1], this.acts[0]));
      else if (i > 0) below = backDataActivation(layer.w, du, zs[i - 1], inputs[i], this.acts[i - 1]);
      const { db, B } = biasGradSgd(du, layer.b, layer.vb, lr, momentum);
      if (i === 0 && this.inputForm === 'sparse') {
        // dW over the batch's nonzeros (or dense on xf), with the new W·background; w and vw in place
        const u = inputWeightUpdate(dzT!, batch.xf, batch.sparse, db, this.background!, layer.w, layer.vw, lr, momentum, moments);
        grads[i] = { W: { w: layer.w, v: layer.vw, moments: u.moments }, B, db, wbg: u.wbg };
      } else {
        // dW fused with the optimizer: computed only if a hook asks for it
        const W = weightUpdate(du, inputs[i], inputT, layer.w, layer.vw, lr, momentum, moments);
        grads[i] = back ? { W, B, db, dGamma: back.dGamma, dBeta: back.dBeta } : { W, B, db };
      }
      let dW: tf.Tensor2D | null = null;
      hooks?.onBackward?.({ layer: i + 1, dz, db, get dW() { return (dW ??= weightGrad(du, inputT())); } }, info);
      if (below) dz = below;
    }
    this.updateRunning(norms, batch.size);
    this.applyUpdate(grads, hooks, info);
    return this.finish(loss, output, grad, batch, hooks, info);
  }

  private tapeStep(batch: Batch, hooks: TensorHooks | null, info: StepInfo): StepOut {
    const L = this.layers.length;
    const forward: { input: tf.Tensor2D; z: tf.Tensor2D; a: tf.Tensor2D }[] = [];
    // zero perturbations added to each z: their gradients are dL/dz
    const eps = this.layers.map((l) => tf.zeros([l.w.shape[0], batch.size]) as tf.Tensor2D);
    const norms: (BnForward | null)[] = [];
    const bnLayers = this.layers.map((l, i) => (l.bn ? i : -1)).filter((i) => i >= 0);
    const f = (...args: tf.Tensor[]): tf.Scalar => {
      let h = batch.xf;
      for (let i = 0; i < L; i++) {
        const u = tf.add<tf.Tensor2D>(tf.matMul(args[i] as tf.Tensor2D, h), args[L + i]);
        const k = bnLayers.indexOf(i);
        const norm = k >= 0 ? bnForward(u, args[3 * L + 2 * k] as tf.Tensor2D, args[3 * L + 2 * k + 1] as tf.Tensor2D) : null;
        norms.push(norm ? { ...norm, mean: tf.keep(norm.mean), variance: tf.keep(norm.variance) } : null);
        const z = tf.add<tf.Tensor2D>(norm ? norm.z : u, args[2 * L + i]);
        const a = activate(z, this.acts[i]);
        forward.push({ input: tf.keep(h), z: tf.keep(z), a: tf.keep(a) });
        h = a;
      }
      return meanCrossEntropy(h, batch.onehot);
    };
    const { value: loss, grads } = tf.valueAndGrads(f)([
      ...this.layers.map((l) => l.w),
      ...this.layers.map((l) => l.b),
      ...eps,
      ...bnLayers.flatMap((i) => [this.layers[i].bn!.gamma, this.layers[i].bn!.beta]),
    ]);
    forward.forEach((t, i) => hooks?.onForward?.({ layer: i + 1, activation: this.acts[i], ...t }, info));
    const g: Grads[] = this.layers.map((_, i) => {
      const k = bnLayers.indexOf(i);
      const base = { dW: grads[i] as tf.Tensor2D, db: grads[L + i] as tf.Tensor2D };
      return k >= 0 ? { ...base, dGamma: grads[3 * L + 2 * k] as tf.Tensor2D, dBeta: grads[3 * L + 2 * k + 1] as tf.Tensor2D } : base;
    });
    for (let i = L - 1; i >= 0; i--) hooks?.onBackward?.({ layer: i + 1, dz: grads[2 * L + i] as tf.Tensor2D, dW: grads[i] as tf.Tensor2D, db: g[i].db }, info);
    this.updateRunning(norms, batch.size);
    tf.dispose(norms.flatMap((n) => (n ? [n.mean, n.variance] : [])));
    this.applyUpdate(g, hooks, info);
    // dL/da at the output by its own gradient, for the probes that read its sign (only when one may)
    const output = forward[L - 1].a;
    const outputGrad = hooks?.onStepTensors ? tf.grad((a: tf.Tensor) => meanCrossEntropy(a as tf.Tensor2D, batch.onehot))(output) as tf.Tensor2D : null;
    const out = this.finish(loss, output, outputGrad, batch, hooks, info);
    // kept to outlive the gradient closure; not owned by the surrounding tidy
    tf.dispose(forward.flatMap((t) => [t.z, t.a]));
    return out;
  }

  /** Running averages of batch statistics, for evaluation. */
  private updateRunning(norms: readonly (BnForward | null)[], batch: number): void {
    norms.forEach((n, i) => {
      const bn = this.layers[i].bn;
      if (!n || !bn) return;
      const r = bnRunning(bn, n.mean, n.variance, batch);
      this.layers[i] = { ...this.layers[i], bn: { ...bn, runMean: tf.keep(r.runMean), runVar: tf.keep(r.runVar) } };
    });
  }

  /** PyTorch SGD: v ← μ·v + g (v ← g on the first step), w ← w − lr·v, fused with its moments. */
  private applyUpdate(grads: readonly Grads[], hooks: TensorHooks | null, info: StepInfo): void {
    const { lr, momentum } = this.opt;
    grads.forEach(({ dW, W: fused, db, B: fusedB, dGamma, dBeta, wbg }, i) => {
      const l = this.layers[i];
      const W = fused ?? sgdMomentum(l.w, l.vw, dW!, lr, momentum);
      const B = fusedB ?? sgdMomentum(l.b, l.vb, db, lr, momentum);
      let bn = l.bn;
      if (bn && dGamma && dBeta) {
        const G = sgdMomentum(bn.gamma, bn.vGamma, dGamma, lr, momentum);
        const Be = sgdMomentum(bn.beta, bn.vBeta, dBeta, lr, momentum);
        bn = { ...bn, gamma: tf.keep(G.w), vGamma: tf.keep(G.v), beta: tf.keep(Be.w), vBeta: tf.keep(Be.v) };
      }
      this.layers[i] = { w: tf.keep(W.w), b: tf.keep(B.w), vw: tf.keep(W.v), vb: tf.keep(B.v), bn, ...(wbg ? { wbg: tf.keep(wbg) } : {}) };
      if (!hooks?.onUpdate) return;
      // hooks see [fanOut, fanIn]: the sparse form's input layer, from its stored layout if asked for
      const [K, M] = W.w.shape;
      const [w, v] = wbg ? [() => tf.tensor2d(unstored(W.w), [M, K]), () => tf.tensor2d(unstored(W.v), [M, K])] : [() => W.w, () => W.v];
      hooks.onUpdate({ layer: i + 1, get w() { return w(); }, get velocityW() { return v(); }, lr, wMoments: W.moments, bMoments: B.moments }, info);
    });
  }

  private finish(loss: tf.Scalar, output: tf.Tensor2D, outputGrad: tf.Tensor2D | null, batch: Batch, hooks: TensorHooks | null, info: StepInfo): StepOut {
    const extra = hooks?.onStepTensors?.({ loss, output, labels: batch.labels, ...(outputGrad ? { outputGrad } : {}) }, info) ?? null;
    const l = tf.reshape(loss, [1]) as tf.Tensor1D;
    if (extra instanceof Float32Array) return { values: l, host: extra };
    return { values: extra ? concatVectors([l, extra]) : l, host: null };
  }

  /**
   * z and a of layer `i` (no batch norm) for its input `x`; with `transposed`, a batch-major copy of
   * a too where the kernels write it. The input layer of a sparse input form reads the batch's
   * nonzeros when it has them (kernels/sparse.ts), else `x` through its input-major weights.
   */
  private forwardLayer(i: number, x: tf.Tensor2D, sparse: SparseInput | undefined, transposed: boolean): { z: tf.Tensor2D; a: tf.Tensor2D; aT?: tf.Tensor2D } {
    const { w, b, wbg } = this.layers[i];
    if (i > 0 || this.inputForm === 'dense') return denseActivate(w, x, b, this.acts[i], transposed);
    if (sparse) this.checkBackground(sparse.background);
    // the sparse input form has a fused activation on its input layer (inputFormFor)
    return sparse ? sparseDenseActivate(w, sparse, x.shape[1], wbg!, b, this.acts[0] as FusedActivation) : denseActivate(w, x, b, this.acts[0], transposed, true);
  }

  /** A batch's nonzeros are relative to its builder's background: it must be this model's. */
  private checkBackground(bg: Float32Array): void {
    if (bg === this.backgroundSeen) return;
    const own = this.backgroundValues!;
    if (bg.length !== own.length || bg.some((v, f) => !Object.is(v, own[f]))) throw new Error('a sparse batch relative to another background than the one this model was built for');
    this.backgroundSeen = bg;
  }

  /** Loss summed over samples and number of correct predictions, for inputs of `[features, n]`. */
  evaluate(input: EvalInput): { lossSum: number; correct: number } {
    const { onehot } = input;
    const out = tf.tidy(() => {
      const h = this.evalForward(input).as[this.layers.length - 1];
      const logp = tf.logSoftmax(tf.transpose(h));
      const lossSum = tf.neg(tf.sum(tf.mul(onehot, logp)));
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logp, 1), tf.argMax(onehot, 1)), 'float32'));
      return tf.stack([lossSum, correct]);
    });
    const [lossSum, correct] = out.dataSync();
    out.dispose();
    return { lossSum, correct };
  }

  /** The forward pass in evaluation form (batch norm with running statistics), per layer z and a. */
  private evalForward(input: EvalInput): { zs: tf.Tensor2D[]; as: tf.Tensor2D[] } {
    let h = input.xf;
    const zs: tf.Tensor2D[] = [], as: tf.Tensor2D[] = [];
    this.layers.forEach(({ w, b, bn }, i) => {
      // the training step's kernels: the own products and fused activations where they run
      const { z, a } = bn ? ((z) => ({ z, a: activateFused(z, this.acts[i]) }))(bnEval(dense(w, h, b), bn)) : this.forwardLayer(i, h, input.sparse, false);
      zs.push(z); as.push(a);
      h = a;
    });
    return { zs, as };
  }

  /**
   * Evaluation with what the diagnosis needs, for `xf` of `[features, n]`: loss sum, correct
   * count, and per layer z and a (`[units, n]`, z after batch norm in its evaluation form) and
   * each input's own gradient size ‖∂L_x/∂u‖ at the layer's pre-activation u = W·h + b
   * (L_x = −log p(true class | x), not averaged over the batch). The arrays are copies the caller
   * keeps; {@link withEvaluateDetail} lends them instead.
   */
  evaluateDetail(input: EvalInput): EvalDetail {
    const parts = this.detailTensors(input);
    const data = parts.map((t) => t.dataSync() as Float32Array);
    tf.dispose(parts);
    return this.detailOf(data);
  }

  /**
   * {@link evaluateDetail}'s figures lent to `use` for the length of the call: on host backends
   * (wasm, cpu) the arrays are the tensors' own memory, read in place (an evaluation's readback
   * was ~61 MB of fresh copies per pass over the test set); elsewhere, copies. `use` must not run
   * tf ops nor keep the arrays: on wasm any allocation may grow the heap and detach them, and the
   * tensors are disposed when it returns.
   */
  withEvaluateDetail<T>(input: EvalInput, use: (detail: EvalDetail) => T): T {
    if (!(HOST_BACKENDS as readonly string[]).includes(tf.getBackend())) return use(this.evaluateDetail(input));
    const parts = this.detailTensors(input);
    try {
      // views only now, after the last allocation; none happens until `use` returns
      const backend = tf.backend();
      const data = parts.map((t) => {
        const v = view(backend, t);
        if (!(v instanceof Float32Array) || v.length !== t.size) throw new Error(`evaluation: no float32 view of a tensor of ${t.size} (got ${v.constructor.name} of ${v.length})`);
        return v;
      });
      return use(this.detailOf(data));
    } finally {
      tf.dispose(parts);
    }
  }

  /** [loss sum and correct count, ...z per layer, ...a per layer, ...‖∂L_x/∂u‖ per layer], kept outside any tidy */
  private detailTensors(input: EvalInput): tf.Tensor[] {
    const L = this.layers.length, { onehot } = input;
    return tf.tidy(() => {
      const { zs, as } = this.evalForward(input);
      const h = as[L - 1];
      const logp = tf.logSoftmax(tf.transpose(h));
      const lossSum = tf.neg(tf.sum(tf.mul(onehot, logp)));
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logp, 1), tf.argMax(onehot, 1)), 'float32'));
      // per-input loss: its gradient at the output is softmax − onehot, column by column
      const g = tf.transpose(tf.sub(tf.exp(logp), onehot)) as tf.Tensor2D;
      const norms: tf.Tensor1D[] = new Array(L);
      // as in the training step: each layer's dz from the product carrying the signal down
      let dz = backActivation(g, zs[L - 1], as[L - 1], this.acts[L - 1]);
      for (let i = L - 1; i >= 0; i--) {
        const { w, bn } = this.layers[i];
        // batch norm in evaluation form is z = γ·(u − mean)/√(var + ε) + β: a per-unit scale
        const du = bn ? tf.mul<tf.Tensor2D>(dz, tf.mul(bn.gamma, tf.rsqrt(tf.add(bn.runVar, BN_EPS)))) : dz;
        norms[i] = tf.sqrt(tf.sum(tf.square(du), 0)) as tf.Tensor1D;
        if (i > 0) dz = backDataActivation(w, du, zs[i - 1], as[i - 1], this.acts[i - 1]);
      }
      return [tf.stack([lossSum, correct]), ...zs, ...as, ...norms];
    });
  }

  private detailOf(data: readonly Float32Array[]): EvalDetail {
    const L = this.layers.length;
    return {
      lossSum: data[0][0],
      correct: data[0][1],
      layers: this.layers.map((_, i) => ({ z: data[1 + i], a: data[1 + L + i], gradNorm: data[1 + 2 * L + i] })),
    };
  }

  /**
   * Everything a step changes, read back from the device in a fixed order (per layer: weights,
   * biases, their momentum buffers, and with batch norm its scale, shift, their buffers and running
   * statistics): a run resumed from them continues exactly (trace/resume-state.ts).
   */
  state(): { readonly name: string; readonly values: Float32Array }[] {
    return this.layers.flatMap((l, i) => [
      // weights and velocity as [fanOut, fanIn] whatever the layout, so either input form resumes them
      ...stateTensors(l).map(([k, t]) => ({ name: `${i + 1}.${k}`, values: l.wbg && (k === 'w' || k === 'vw') ? unstored(t) : t.dataSync() as Float32Array })),
      // W·background as the kernels summed it: a resumed run continues bit for bit
      ...(l.wbg ? [{ name: `${i + 1}.wbg`, values: l.wbg.dataSync() as Float32Array }] : []),
    ]);
  }

  /** Puts back what {@link state} read; the names and sizes must match this model's. */
  loadState(arrays: readonly { readonly name: string; readonly values: Float32Array }[]): void {
    const byName = new Map(arrays.map((a) => [a.name, a.values]));
    this.layers = this.layers.map((l, i) => {
      const take = (k: string, t: tf.Tensor2D): tf.Tensor2D => {
        const v = byName.get(`${i + 1}.${k}`);
        if (!v || v.length !== t.size) throw new Error(`state of layer ${i + 1}: ${k} ${v ? `has ${v.length} values, the model ${t.size}` : 'is missing'}`);
        const [rows, cols] = t.shape;
        // the sparse form's input layer: weights and velocity come as [fanOut, fanIn] = [cols, rows]
        const n = l.wbg && (k === 'w' || k === 'vw') ? tf.tensor2d(toInputLayout(v, cols, rows), [rows, cols]) : tf.tensor2d(v, [rows, cols]);
        t.dispose();
        return n;
      };
      const bn = l.bn ? { gamma: take('gamma', l.bn.gamma), beta: take('beta', l.bn.beta), vGamma: take('vGamma', l.bn.vGamma), vBeta: take('vBeta', l.bn.vBeta), runMean: take('runMean', l.bn.runMean), runVar: take('runVar', l.bn.runVar) } : null;
      const w = take('w', l.w);
      if (!l.wbg) return { w, b: take('b', l.b), vw: take('vw', l.vw), vb: take('vb', l.vb), bn };
      // W·background: as saved (a state of the sparse form), else made from the weights
      const saved = byName.get(`${i + 1}.wbg`);
      l.wbg.dispose();
      const wbg = saved && saved.length === w.shape[1] ? tf.tensor1d(saved) : tf.tensor1d(backgroundProduct(unstored(w), w.shape[1], this.backgroundValues!));
      return { w, b: take('b', l.b), vw: take('vw', l.vw), vb: take('vb', l.vb), bn, wbg };
    });
  }

  /**
   * Each layer's weights and biases lent to `use` for the length of the call, in whatever order the
   * model stores them (the sparse form's input layer in column blocks): for checks that do not
   * depend on the order (finite values, norms). On host backends the arrays are the tensors' own
   * memory (no copy, no reordering: a scan of the study's MLP takes 0.6 ms so, 1.8–2.7 ms through
   * {@link params}); `use` must not run tf ops nor keep them.
   */
  withParamValues<T>(use: (layers: readonly { readonly w: Float32Array; readonly b: Float32Array }[]) => T): T {
    if (!(HOST_BACKENDS as readonly string[]).includes(tf.getBackend())) return use(this.layers.map(({ w, b }) => ({ w: w.dataSync() as Float32Array, b: b.dataSync() as Float32Array })));
    const backend = tf.backend();
    return use(this.layers.map(({ w, b }) => ({ w: view(backend, w) as Float32Array, b: view(backend, b) as Float32Array })));
  }

  /** Current parameters, read back from the device. */
  params(): LayerParams[] {
    return this.layers.map(({ w, b, wbg }) => {
      // the input-major input layer, as [fanOut, fanIn]
      if (wbg) return { fanIn: w.shape[0], fanOut: w.shape[1], w: unstored(w), b: b.dataSync() as Float32Array };
      return { fanIn: w.shape[1], fanOut: w.shape[0], w: w.dataSync() as Float32Array, b: b.dataSync() as Float32Array };
    });
  }

  dispose(): void {
    for (const l of this.layers) {
      tf.dispose([l.w, l.b, l.vw, l.vb, ...(l.wbg ? [l.wbg] : [])]);
      if (l.bn) bnDispose(l.bn);
    }
    this.background?.dispose();
  }
}
