import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BatchBuilder, disposeBatch } from '../src/train/batch.js';
import { loadMnist, MNIST_MEAN, MNIST_STD, normalizationTable, type Split } from '../src/train/data.js';
import type { Batch } from '../src/train/engine.js';
import { permutation, rng } from '../src/train/rng.js';
import { allModes, useBackend } from './helpers.js';

// Its own file, so its own process: the growth test below needs the wasm memory still small.
before(() => useBackend('wasm'));

const f = Math.fround;

/** What a batch must hold, computed from the definition: (p/255 − mean)/std in float32 steps, transposed by index. */
function reference(split: Split, channelOf: (feature: number) => number, means: readonly number[], stds: readonly number[], classes: number, order: ArrayLike<number>, start: number, size: number) {
  const { dim } = split;
  const xb = new Float32Array(size * dim), xf = new Float32Array(dim * size);
  const onehot = new Float32Array(size * classes), labels = new Int32Array(size);
  for (let s = 0; s < size; s++) {
    const i = order[start + s];
    for (let j = 0; j < dim; j++) {
      const c = channelOf(j);
      const v = f(f(f(split.pixels[i * dim + j] / 255) - f(means[c])) / f(stds[c]));
      xb[s * dim + j] = v;
      xf[j * size + s] = v;
    }
    labels[s] = split.labels[i];
    onehot[s * classes + split.labels[i]] = 1;
  }
  return { xf, xb, onehot, labels };
}

/** Bit-for-bit equality of a tensor with expected values, shape and dtype. */
function same(t: tf.Tensor, want: Float32Array | Int32Array, shape: readonly number[], what: string): void {
  assert.deepEqual(t.shape, shape, `${what} shape`);
  assert.equal(t.dtype, want instanceof Int32Array ? 'int32' : 'float32', `${what} dtype`);
  const got = t.dataSync() as Float32Array | Int32Array;
  assert.equal(got.length, want.length, `${what} length`);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length), b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) assert.fail(`${what}[${k}]: ${got[k]} (0x${a[k].toString(16)}), expected ${want[k]} (0x${b[k].toString(16)})`);
}

function check(batch: Batch, ref: ReturnType<typeof reference>, dim: number, classes: number, what: string): void {
  const n = ref.labels.length;
  assert.equal(batch.size, n);
  same(batch.xf, ref.xf, [dim, n], `${what} xf`);
  same(batch.xb!, ref.xb, [n, dim], `${what} xb`);
  same(batch.onehot, ref.onehot, [n, classes], `${what} onehot`);
  same(batch.labels, ref.labels, [n], `${what} labels`);
}

const mnist = loadMnist();
const mnistRef = (order: ArrayLike<number>, start: number, size: number) => reference(mnist.train, () => 0, [MNIST_MEAN], [MNIST_STD], 10, order, start, size);

/** A CIFAR-like split: `channels` planes of `per` features each, random bytes (every value 0–255 shows up). */
function synthetic(n: number, channels: number, per: number, seed: number): Split {
  const r = rng(seed, 'batch-test');
  const dim = channels * per;
  return { n, dim, pixels: Uint8Array.from({ length: n * dim }, () => r.int(256)), labels: Uint8Array.from({ length: n }, () => r.int(10)) };
}

test('a builder refuses lookup offsets that do not cover every feature', () => {
  const split = synthetic(2, 1, 5, 3);
  assert.throws(() => new BatchBuilder(split, normalizationTable(0.5, 0.25), new Int32Array(4), 10), /4 lookup offsets for 5 features/);
});

for (const mode of await allModes()) {
  test(`batches equal the definition bit for bit, sizes 1, 31, 32, 33 and the last partial one (${mode.name})`, { skip: mode.skip }, async () => {
    await mode.enter();
    try {
      const order = permutation(mnist.train.n, rng(5, 'shuffle', 1));
      const builder = new BatchBuilder(mnist.train, mnist.lut, mnist.lutOffset, mnist.classes);
      // 60,000 = 33·1818 + 6: the last batch of size 33 holds 6 samples
      const cases: [number, number][] = [[0, 1], [7, 31], [0, 32], [32 * 1874, 32], [12345, 33], [59994, 6], [59999, 1], [100, 32]];
      for (const [start, size] of cases) {
        const b = builder.build(order, start, size);
        check(b, mnistRef(order, start, size), 784, 10, `start ${start} size ${size}`);
        disposeBatch(b);
      }
    } finally {
      await mode.leave();
    }
  });

  test(`each channel's features use their own mean and std, widths not a multiple of 4 (${mode.name})`, { skip: mode.skip }, async () => {
    await mode.enter();
    try {
      const means = [0.4914, 0.4822, 0.4465], stds = [0.247, 0.2435, 0.2616];
      const lut = normalizationTable(means, stds);
      const split = synthetic(50, 3, 7, 1);
      const order = permutation(split.n, rng(2, 'shuffle', 1));
      // channel-major, as data.ts lays out CIFAR-10, and interleaved, runs of one feature
      const planar = Int32Array.from({ length: 21 }, (_, j) => Math.floor(j / 7) * 256);
      const interleaved = Int32Array.from({ length: 21 }, (_, j) => (j % 3) * 256);
      for (const [offsets, channelOf] of [[planar, (j: number) => Math.floor(j / 7)], [interleaved, (j: number) => j % 3]] as const) {
        const builder = new BatchBuilder(split, lut, offsets, 10);
        for (const [start, size] of [[0, 1], [3, 31], [17, 33], [0, 50]]) {
          const b = builder.build(order, start, size);
          check(b, reference(split, channelOf, means, stds, 10, order, start, size), 21, 10, `start ${start} size ${size}`);
          disposeBatch(b);
        }
      }
    } finally {
      await mode.leave();
    }
  });

  test(`a batch keeps its values while later batches are built, and disposing frees every tensor (${mode.name})`, { skip: mode.skip }, async () => {
    await mode.enter();
    try {
      const order = permutation(mnist.train.n, rng(6, 'shuffle', 1));
      const builder = new BatchBuilder(mnist.train, mnist.lut, mnist.lutOffset, mnist.classes);
      const before = tf.memory();
      const first = builder.build(order, 0, 32);
      const later = [builder.build(order, 32, 32), builder.build(order, 64, 7), builder.build(order, 96, 32)];
      check(first, mnistRef(order, 0, 32), 784, 10, 'first batch');
      check(later[2], mnistRef(order, 96, 32), 784, 10, 'last batch');
      for (const b of [first, ...later]) disposeBatch(b);
      assert.equal(tf.memory().numTensors, before.numTensors);
      assert.equal(tf.memory().numBytes, before.numBytes);
    } finally {
      await mode.leave();
    }
  });
}

test('a batch large enough to grow the wasm memory between its tensors\' allocations is still right', async () => {
  await useBackend('wasm');
  const backend = tf.backend() as unknown as { makeOutput: (...a: unknown[]) => unknown; wasm: { asm: { memory: WebAssembly.Memory } } };
  const memory = backend.wasm.asm.memory;
  // xf alone as large as the whole memory: allocating it grows the memory, and xb's grows it again
  const size = Math.ceil(memory.buffer.byteLength / (784 * 4)) + 1;
  const order = Uint32Array.from({ length: size }, (_, s) => (s * 7919) % mnist.train.n);
  const builder = new BatchBuilder(mnist.train, mnist.lut, mnist.lutOffset, mnist.classes);
  const makeOutput = backend.makeOutput, sizes: number[] = [];
  backend.makeOutput = function (this: unknown, ...a: unknown[]) {
    const out = makeOutput.apply(this, a);
    sizes.push(memory.buffer.byteLength);
    return out;
  };
  let b: Batch;
  try {
    b = builder.build(order, 0, size);
  } finally {
    backend.makeOutput = makeOutput;
  }
  assert.ok(sizes.length > 1 && sizes[sizes.length - 1] > sizes[0], `the memory grew after the first tensor was allocated (sizes after each allocation: ${sizes.join(', ')})`);
  check(b, mnistRef(order, 0, size), 784, 10, `size ${size}`);
  disposeBatch(b);
});
