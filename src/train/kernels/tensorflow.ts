/**
 * The fused kernels (optimizer step, loss, probes) for tfjs-node, written as short chains of
 * TensorFlow ops issued straight to its binding. Through tf.* every op pays tfjs's engine
 * (bookkeeping, a tensor object, often an axis tensor created and freed): measured ~4× the cost
 * of the TensorFlow op itself, and a probed step was 262 of them. Here each kernel is one engine
 * op; its intermediates are binding handles, freed before it returns.
 *
 * Loaded by backend.ts with tfjs-node; host.ts then routes the fused kernels here (see
 * FUSED_BACKENDS). Semantics are those of the host kernels (plain loops) beside each name, and
 * the engine and probe reference tests run on this backend.
 */
import * as tf from '@tensorflow/tfjs';
import { SELU_ALPHA, SELU_SCALE } from '../../activations/index.js';
import { FUSED_BACKENDS } from './host.js';
import { QUANTILES } from '../../probes/distribution.js';

interface Meta { id: number; shape: number[]; dtype: number }
interface Attr { name: string; type: number; value: boolean | number | number[] }
interface Binding {
  executeOp(op: string, attrs: Attr[], inputs: number[], outputs: number): Meta[];
  createTensor(shape: number[], dtype: number, values: Float32Array | Int32Array): number;
  deleteTensor(id: number): void;
  TF_FLOAT: number; TF_INT32: number; TF_BOOL: number;
  TF_ATTR_INT: number; TF_ATTR_BOOL: number; TF_ATTR_TYPE: number;
}
interface NodeBackend {
  binding: Binding;
  getInputTensorIds(tensors: tf.TensorInfo[]): number[];
  tensorMap: { set(dataId: tf.DataId, d: { shape: number[]; dtype: number; id: number; values: null; refCount: number }): void };
}

/** A TensorFlow handle: its id in the binding and its shape. */
type H = Meta;

/** Issues ops to the binding and frees every intermediate handle at `done`. */
class Raw {
  private readonly temps: number[] = [];
  private static readonly consts = new Map<string, number>();
  readonly b: Binding;
  constructor(readonly be: NodeBackend) { this.b = be.binding; }

  type(name: string, dtype: number): Attr { return { name, type: this.b.TF_ATTR_TYPE, value: dtype }; }
  op(name: string, inputs: readonly H[], attrs: Attr[] = [this.type('T', this.b.TF_FLOAT)], outputs = 1): H[] {
    const out = this.b.executeOp(name, attrs, inputs.map((h) => h.id), outputs);
    for (const m of out) this.temps.push(m.id);
    return out;
  }
  one(name: string, inputs: readonly H[], attrs?: Attr[]): H { return this.op(name, inputs, attrs)[0]; }
  /** A cached constant (never freed: a handful per process). */
  constant(values: readonly number[], dtype: 'float32' | 'int32', shape: number[] = values.length === 1 ? [] : [values.length]): H {
    const key = `${dtype}:${shape}:${values}`;
    let id = Raw.consts.get(key);
    if (id === undefined) {
      id = this.b.createTensor(shape, dtype === 'int32' ? this.b.TF_INT32 : this.b.TF_FLOAT, dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values));
      Raw.consts.set(key, id);
    }
    return { id, shape, dtype: dtype === 'int32' ? this.b.TF_INT32 : this.b.TF_FLOAT };
  }
  f(x: number): H { return this.constant([x], 'float32'); }
  input(t: tf.TensorInfo): H { return { id: this.be.getInputTensorIds([t])[0], shape: t.shape, dtype: t.dtype === 'int32' ? this.b.TF_INT32 : this.b.TF_FLOAT }; }

  /** Reduces over `axes` (all when omitted). */
  reduce(op: 'Sum' | 'Max' | 'Min' | 'Mean' | 'EuclideanNorm', x: H, axes: number[] = x.shape.map((_, i) => i), keepDims = false): H {
    return this.one(op, [x, this.constant(axes, 'int32', [axes.length])], [
      { name: 'keep_dims', type: this.b.TF_ATTR_BOOL, value: keepDims }, this.type('T', this.b.TF_FLOAT), this.type('Tidx', this.b.TF_INT32),
    ]);
  }
  /** Share of entries where `op(a, b)` holds, as a float scalar. */
  share(op: 'LessEqual' | 'Less' | 'Greater', a: H, b: H): H { return this.reduce('Mean', this.toFloat(this.one(op, [a, b]))); }
  mask(op: 'LessEqual' | 'Less' | 'Greater', a: H, b: H): H { return this.toFloat(this.one(op, [a, b])); }
  toFloat(x: H): H {
    return this.one('Cast', [x], [this.type('SrcT', x.dtype), this.type('DstT', this.b.TF_FLOAT), { name: 'Truncate', type: this.b.TF_ATTR_BOOL, value: false }]);
  }
  pack(xs: readonly H[]): H {
    return this.one('Pack', xs, [{ name: 'N', type: this.b.TF_ATTR_INT, value: xs.length }, this.type('T', this.b.TF_FLOAT), { name: 'axis', type: this.b.TF_ATTR_INT, value: 0 }]);
  }
  concat(xs: readonly H[]): H {
    return this.one('ConcatV2', [...xs, this.constant([0], 'int32')], [{ name: 'N', type: this.b.TF_ATTR_INT, value: xs.length }, this.type('T', this.b.TF_FLOAT), this.type('Tidx', this.b.TF_INT32)]);
  }
  matMul(a: H, b: H, transposeA = false, transposeB = false): H {
    const bool = (name: string, value: boolean): Attr => ({ name, type: this.b.TF_ATTR_BOOL, value });
    return this.one('MatMul', [a, b], [bool('transpose_a', transposeA), bool('transpose_b', transposeB), this.type('T', this.b.TF_FLOAT)]);
  }
  transpose(x: H): H { return this.one('Transpose', [x, this.constant([1, 0], 'int32', [2])], [this.type('T', this.b.TF_FLOAT), this.type('Tperm', this.b.TF_INT32)]); }
  gather(x: H, idx: number[]): H {
    return this.one('GatherV2', [x, this.constant(idx, 'int32', [idx.length]), this.constant([0], 'int32')], [this.type('Tparams', this.b.TF_FLOAT), this.type('Tindices', this.b.TF_INT32), this.type('Taxis', this.b.TF_INT32)]);
  }

  /** Hands `h` to tfjs as a tensor it owns, and frees every other intermediate. */
  done(outs: readonly H[]): tf.TensorInfo[] {
    const keep = new Set(outs.map((h) => h.id));
    for (const id of this.temps) if (!keep.has(id)) this.b.deleteTensor(id);
    return outs.map((h) => {
      const dataId = {};
      this.be.tensorMap.set(dataId, { shape: h.shape, dtype: h.dtype, id: h.id, values: null, refCount: 1 });
      return { dataId, shape: h.shape, dtype: 'float32' as const };
    });
  }
}

type Impl = (r: Raw, inputs: Record<string, H>, attrs: Record<string, number | boolean | string>) => H[];

/** da/dz of the activations that can saturate, as their specs (src/activations) write it, in raw ops. */
const RAW_DERIVATIVE: Record<string, (r: Raw, z: H, a: H) => H> = {
  sigmoid: (r, _z, a) => r.one('Mul', [a, r.one('Sub', [r.f(1), a])]),
  tanh: (r, _z, a) => r.one('Sub', [r.f(1), r.one('Square', [a])]),
  selu: (r, z, a) => r.one('SelectV2', [r.one('Greater', [z, r.f(0)]), r.f(SELU_SCALE), r.one('AddV2', [a, r.f(SELU_SCALE * SELU_ALPHA)])]),
};

/** f(z) in one TensorFlow op, for the activations kernels/fused.ts fuses. */
const RAW_ACTIVATION: Record<string, string> = { relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', selu: 'Selu' };

/** g ⊙ f'(z): TensorFlow's own gradient op where its rule is the spec's, else the spec's derivative in raw ops. */
function rawBackActivation(r: Raw, act: string, g: H, z: H, a: H): H {
  // ReluGrad is g·(z > 0): 0 at z = 0 as the spec (SeluGrad takes λ at 0, the spec λα: not used)
  if (act === 'relu') return r.one('ReluGrad', [g, z]);
  const derivative = RAW_DERIVATIVE[act];
  if (!derivative) throw new Error(`no fused tfjs-node derivative for activation '${act}'`);
  return r.one('Mul', [g, derivative(r, z, a)]);
}

const KERNELS: Record<string, Impl> = {
  /** fused.ts: z = W·x + b, a = f(z) */
  ProbeDenseAct(r, { w, x, b }, { act }) {
    const z = r.one('AddV2', [r.matMul(w, x), b]);
    return [z, r.one(RAW_ACTIVATION[act as string], [z])];
  },
  /** fused.ts: a = f(z) */
  ProbeActivate(r, { z }, { act }) {
    return [r.one(RAW_ACTIVATION[act as string], [z])];
  },
  /** fused.ts: dz = (Wᵀ·d) ⊙ f'(z) for the layer below */
  ProbeBackDataAct(r, { w, d, z, a }, { act }) {
    return [rawBackActivation(r, act as string, r.matMul(w, d, true), z, a)];
  },
  /** fused.ts: db = Σ_batch d, then the bias's SGD step with its moments (ProbeSgdMomentum) */
  ProbeBiasGradSgd(r, { d, b, v }, attrs) {
    const db = r.reduce('Sum', d, [1], true);
    return [db, ...KERNELS.ProbeSgdMomentum(r, { g: db, v, w: b }, attrs)];
  },
  /** fused.ts: SGD with momentum with dW = d·xᵀ (x feature-major), with its moments */
  ProbeWeightGradSgdT(r, { d, x, w, v }, attrs) {
    return KERNELS.ProbeSgdMomentum(r, { g: r.matMul(d, x, false, true), v, w }, attrs);
  },
  /** fused.ts: dz = g ⊙ f'(z) */
  ProbeActBack(r, { g, z, a }, { act }) {
    return [rawBackActivation(r, act as string, g, z, a)];
  },
  /** v' = v·μ + g, w' = w − v'·lr, [Σg², max|g|, Σv'², Σw'²] — each op rounds to float32 as PyTorch does */
  ProbeSgdMomentum(r, { g, v, w }, { lr, mu }) {
    const vo = r.one('AddV2', [r.one('Mul', [v, r.f(mu as number)]), g]);
    const wo = r.one('Sub', [w, r.one('Mul', [vo, r.f(lr as number)])]);
    // one pass per norm (Square then Sum is two over the 1.5 MB weights), squared together at the end
    const norms = r.pack([r.reduce('EuclideanNorm', g), r.reduce('Max', r.one('Abs', [g])), r.reduce('EuclideanNorm', vo), r.reduce('EuclideanNorm', wo)]);
    return [vo, wo, r.one('Pow', [norms, r.constant([2, 1, 2, 2], 'float32')])];
  },
  /** loss = −mean log softmax(a)[label] as [1], dL/da = (softmax(a) − onehot)/batch, a `[classes, batch]` */
  ProbeSoftmaxXent(r, { output, labels }) {
    const [C, B] = output.shape;
    const [loss, back] = r.op('SparseSoftmaxCrossEntropyWithLogits', [r.transpose(output), labels], [{ name: 'T', type: r.b.TF_ATTR_TYPE, value: r.b.TF_FLOAT }, { name: 'Tlabels', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }], 2);
    const grad = r.transpose(r.one('Mul', [back, r.f(1 / B)]));
    void C;
    return [r.reduce('Mean', loss, [0], true), grad];
  },
  /** [inactive_frac, dead_units, dead_rows, (active share per unit)…] of z `[units, batch]`, inactive where z ≤ at */
  ProbeDeadRelu(r, { z }, { perUnit, at }) {
    const inactive = r.mask('LessEqual', z, r.f(at as number));
    const base = r.pack([r.reduce('Mean', inactive), r.reduce('Mean', r.reduce('Min', inactive, [1])), r.reduce('Mean', r.reduce('Min', inactive, [0]))]);
    // active is z > at, not 1 − inactive: a NaN entry is neither (as in the host and composite kernels)
    return [perUnit ? r.concat([base, r.reduce('Mean', r.mask('Greater', z, r.f(at as number)), [1])]) : base];
  },
  /** per unit, the share of samples with z > at, of z `[units, batch]` */
  ProbeUnitActivity(r, { z }, { at }) {
    return [r.reduce('Mean', r.mask('Greater', z, r.f(at as number)), [1])];
  },
  /**
   * [sat_frac, sat_low, sat_high, mean_deriv], without sat_high when hi = ∞ (selu); the derivative
   * is the activation spec's (src/activations), written in raw ops in {@link RAW_DERIVATIVE}
   */
  ProbeSaturation(r, { a, z }, { act, lo, hi }) {
    const derivative = RAW_DERIVATIVE[act as string];
    if (!derivative) throw new Error(`no fused tfjs-node derivative for activation '${String(act)}'`);
    const low = r.share('Less', a, r.f(lo as number));
    const deriv = r.reduce('Mean', derivative(r, z, a));
    if (hi === Infinity) return [r.pack([low, low, deriv])];
    const high = r.share('Greater', a, r.f(hi as number));
    return [r.pack([r.one('AddV2', [low, high]), low, high, deriv])];
  },
  /**
   * [quantiles of z…, quantiles of a…] over all entries (distribution.ts: linear interpolation at
   * rank (n − 1)·p); TopKV2 with k = n sorts descending, so ascending rank i is position n − 1 − i
   */
  ProbeDistribution(r, { z, a }) {
    return [r.concat([z, a].map((x) => {
      const n = x.shape.reduce((p, q) => p * q, 1);
      const flat = r.one('Reshape', [x, r.constant([n], 'int32', [1])], [r.type('T', r.b.TF_FLOAT), r.type('Tshape', r.b.TF_INT32)]);
      const desc = r.op('TopKV2', [flat, r.constant([n], 'int32', [])], [{ name: 'sorted', type: r.b.TF_ATTR_BOOL, value: true }, r.type('T', r.b.TF_FLOAT)], 2)[0];
      const h = QUANTILES.map((p) => ((n - 1) * p) / 100);
      const lo = h.map(Math.floor), hi = lo.map((l) => Math.min(l + 1, n - 1));
      const vlo = r.gather(desc, lo.map((i) => n - 1 - i)), vhi = r.gather(desc, hi.map((i) => n - 1 - i));
      return r.one('AddV2', [vlo, r.one('Mul', [r.constant(h.map((v, i) => v - lo[i]), 'float32'), r.one('Sub', [vhi, vlo])])]);
    }))];
  },
  /** [‖dW‖, max|dW|, ‖db‖, max|db|, ‖dz‖, max|dz|, lr·‖v‖/‖W‖] from the optimizer's moments wm, bm and dz */
  ProbeGradients(r, { wm, bm, dz }, { lr }) {
    const sw = r.one('Sqrt', [wm]);
    const all = r.concat([sw, wm, r.one('Sqrt', [bm]), bm, r.pack([r.reduce('EuclideanNorm', dz), r.reduce('Max', r.one('Abs', [dz]))])]);
    const ratio = r.one('Mul', [r.one('RealDiv', [r.gather(sw, [2]), r.gather(sw, [3])]), r.f(lr as number)]);
    return [r.concat([r.gather(all, [0, 5, 8, 13, 16, 17]), ratio])];
  },
  /** [loss, share of samples whose arg-max output (first on ties) is the label], output `[classes, batch]` */
  ProbeLoss(r, { loss, output, labels }) {
    const arg = r.one('ArgMax', [output, r.constant([0], 'int32')], [{ name: 'T', type: r.b.TF_ATTR_TYPE, value: r.b.TF_FLOAT }, { name: 'Tidx', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }, { name: 'output_type', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }]);
    const hit = r.one('Equal', [arg, labels], [{ name: 'T', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }]);
    const l = r.one('Reshape', [loss, r.constant([], 'int32', [0])], [{ name: 'T', type: r.b.TF_ATTR_TYPE, value: r.b.TF_FLOAT }, { name: 'Tshape', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }]);
    return [r.pack([l, r.reduce('Mean', r.toFloat(hit))])];
  },
  /** attach/moments.ts: [Σg², max|g|, Σ(wb − wa)², Σwa²] (any shape: reduce over every axis) */
  AttachMoments(r, { g, wb, wa }) {
    const sq = (x: H) => r.reduce('Sum', r.one('Square', [x]));
    return [r.pack([sq(g), r.reduce('Max', r.one('Abs', [g])), sq(r.one('Sub', [wb, wa])), sq(wa)])];
  },
  /** float32 vectors '0', '1', … end to end */
  ProbeConcat(r, inputs) {
    return [r.concat(Object.keys(inputs).sort((p, q) => Number(p) - Number(q)).map((k) => inputs[k]))];
  },
};

for (const [kernelName, impl] of Object.entries(KERNELS)) {
  tf.registerKernel({
    kernelName,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const r = new Raw(backend as unknown as NodeBackend);
      const hs = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, r.input(t as tf.TensorInfo)]));
      const out = r.done(impl(r, hs, (attrs ?? {}) as Record<string, number | boolean | string>));
      return out.length === 1 ? out[0] : out;
    },
  });
}
FUSED_BACKENDS.add('tensorflow');
