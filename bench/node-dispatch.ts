/**
 * Why tfjs-node's step costs what it costs: every TensorFlow op goes through the binding's
 * `executeOp` (an eager TFE call from JavaScript). This counts those calls per training step and
 * times a trivial one (`Add` of two one-element tensors), so the bench can state the share of the
 * step that is dispatch alone, measured rather than assumed.
 */
import * as tf from '@tensorflow/tfjs';

interface Binding {
  executeOp(op: string, attrs: unknown[], inputs: number[], outputs: number): { id: number }[];
  createTensor(shape: number[], dtype: number, values: Float32Array): number;
  deleteTensor(id: number): void;
  TF_FLOAT: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_BOOL: number;
}

export interface NodeDispatch {
  /** TensorFlow ops issued per step, probes on / off */
  readonly opsOn: number;
  readonly opsOff: number;
  /** µs for one trivial op through the binding (median of rounds) */
  readonly usPerOp: number;
  /** ms for the step's eight matrix products as TensorFlow MatMul ops alone (sum of medians) */
  readonly productsMs: number;
}

/** The study step's products [M, K, N] (M×K · K×N), as bench/products.ts lists them. */
const PRODUCTS: readonly (readonly [number, number, number])[] = [
  [500, 784, 32], [256, 500, 32], [10, 256, 32], // forward W·x
  [500, 256, 32], [256, 10, 32], // backward Wᵀ·du
  [500, 32, 784], [256, 32, 500], [10, 32, 256], // weight gradients du·xᵀ
];

/** Call on the tfjs-node backend; `stepOn` / `stepOff` run one training step each. */
export function nodeDispatch(stepOn: () => void, stepOff: () => void): NodeDispatch {
  const be = tf.backend() as unknown as { binding: Binding };
  const b = be.binding;
  let count = 0;
  // the binding is a native module's read-only exports: count through an object that inherits
  // from it and shadows executeOp, which the backend (and probe's kernels/tensorflow.ts, reading
  // backend.binding per call) use instead
  const counting = (op: string, attrs: unknown[], inputs: number[], outputs: number) => { count++; return b.executeOp(op, attrs, inputs, outputs); };
  be.binding = Object.create(b, { executeOp: { value: counting } }) as Binding;
  const per = (step: () => void) => {
    step(); // warm
    count = 0;
    for (let i = 0; i < 10; i++) step();
    return count / 10;
  };
  let opsOn: number, opsOff: number;
  try {
    opsOn = per(stepOn);
    opsOff = per(stepOff);
  } finally {
    be.binding = b;
  }
  const x = b.createTensor([1], b.TF_FLOAT, Float32Array.of(1));
  const attrs = [{ name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT }];
  const add = () => { const [o] = b.executeOp('Add', attrs, [x, x], 1); b.deleteTensor(o.id); };
  for (let i = 0; i < 2000; i++) add();
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) add();
    rounds.push(((performance.now() - t0) * 1000) / 5000);
  }
  b.deleteTensor(x);
  const mm = [
    { name: 'transpose_a', type: b.TF_ATTR_BOOL, value: false }, { name: 'transpose_b', type: b.TF_ATTR_BOOL, value: false },
    { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
  ];
  let productsMs = 0;
  for (const [M, K, N] of PRODUCTS) {
    const a = b.createTensor([M, K], b.TF_FLOAT, Float32Array.from({ length: M * K }, (_, i) => ((i % 17) - 8) / 16));
    const c = b.createTensor([K, N], b.TF_FLOAT, Float32Array.from({ length: K * N }, (_, i) => ((i % 13) - 6) / 16));
    const run = () => { const [o] = b.executeOp('MatMul', mm, [a, c], 1); b.deleteTensor(o.id); };
    for (let i = 0; i < 50; i++) run();
    const ts: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) run();
      ts.push((performance.now() - t0) / 100);
    }
    productsMs += [...ts].sort((p, q) => p - q)[3];
    b.deleteTensor(a);
    b.deleteTensor(c);
  }
  return { opsOn, opsOff, usPerOp: [...rounds].sort((p, q) => p - q)[3], productsMs };
}
