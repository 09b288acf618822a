/**
 * Kernels for tfjs-node written as short chains of TensorFlow ops issued straight to its binding.
 * Through tf.* every op pays tfjs's engine (bookkeeping, a tensor object, often an axis tensor
 * created and freed): measured ~4× the cost of the TensorFlow op itself, and a probed step was 262
 * of them. A kernel made by {@link rawKernel} is one engine op; its intermediates are binding
 * handles, freed before it returns.
 *
 * The engine's own such kernels are in tensorflow.ts; a probe's sits beside its other forms, as
 * the `tensorflow` form of its kernel definition (host.ts). Nothing here loads tfjs-node: these
 * configs only run once backend.ts has loaded it.
 */
import tf from '../../tf.cjs';
import { SELU_ALPHA, SELU_SCALE } from '../../activations/index.js';

export interface Meta { id: number; shape: number[]; dtype: number }
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
export type H = Meta;

/** Issues ops to the binding and frees every intermediate handle at `done`. */
export class Raw {
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

/** A kernel in raw ops: the inputs as handles, the outputs' handles returned. */
export type RawImpl = (r: Raw, inputs: Record<string, H>, attrs: Record<string, number | boolean | string>) => H[];

/** da/dz of the activations that can saturate, as their specs (src/activations) write it, in raw ops. */
export const RAW_DERIVATIVE: Record<string, (r: Raw, z: H, a: H) => H> = {
  sigmoid: (r, _z, a) => r.one('Mul', [a, r.one('Sub', [r.f(1), a])]),
  tanh: (r, _z, a) => r.one('Sub', [r.f(1), r.one('Square', [a])]),
  selu: (r, z, a) => r.one('SelectV2', [r.one('Greater', [z, r.f(0)]), r.f(SELU_SCALE), r.one('AddV2', [a, r.f(SELU_SCALE * SELU_ALPHA)])]),
};

/** f(z) in one TensorFlow op, for the activations kernels/fused.ts fuses. */
export const RAW_ACTIVATION: Record<string, string> = { relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', selu: 'Selu' };

/** g ⊙ f'(z): TensorFlow's own gradient op where its rule is the spec's, else the spec's derivative in raw ops. */
export function rawBackActivation(r: Raw, act: string, g: H, z: H, a: H): H {
  // ReluGrad is g·(z > 0): 0 at z = 0 as the spec (SeluGrad takes λ at 0, the spec λα: not used)
  if (act === 'relu') return r.one('ReluGrad', [g, z]);
  const derivative = RAW_DERIVATIVE[act];
  if (!derivative) throw new Error(`no fused tfjs-node derivative for activation '${act}'`);
  return r.one('Mul', [g, derivative(r, z, a)]);
}

/** A tfjs kernel config for tfjs-node ('tensorflow') that runs `impl` as one engine op. */
export function rawKernel(kernelName: string, impl: RawImpl): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const r = new Raw(backend as unknown as NodeBackend);
      const hs = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, r.input(t as tf.TensorInfo)]));
      const out = r.done(impl(r, hs, (attrs ?? {}) as Record<string, number | boolean | string>));
      return out.length === 1 ? out[0] : out;
    },
  };
}
