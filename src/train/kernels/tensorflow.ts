/**
 * The engine's fused kernels (optimizer step, loss, products with their activations) for
 * tfjs-node, as raw TensorFlow op chains (tf-raw.ts: one engine op each, bypassing tfjs's per-op
 * overhead). backend.ts registers {@link tensorflowKernels} when it loads tfjs-node; host.ts then
 * routes the fused kernels here (see FUSED_BACKENDS). Semantics are those of the host kernels
 * (plain loops) beside each name, and the engine's reference tests run on this backend. The
 * probes' raw forms sit in the probes' own files.
 */
import type tf from '../../tf.cjs';
import { RAW_ACTIVATION, rawBackActivation, rawKernel, type RawImpl } from './tf-raw.js';

const KERNELS: Record<string, RawImpl> = {
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
  /** float32 vectors '0', '1', … end to end */
  ProbeConcat(r, inputs) {
    return [r.concat(Object.keys(inputs).sort((p, q) => Number(p) - Number(q)).map((k) => inputs[k]))];
  },
};

/** Kernel configs for tfjs's registry, registered by backend.ts with tfjs-node. */
export const tensorflowKernels: readonly tf.KernelConfig[] = Object.entries(KERNELS).map(([name, impl]) => rawKernel(name, impl));
