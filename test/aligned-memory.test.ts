/**
 * tfjs-backend-wasm's tensors on cache-line starts (kernels/host.ts alignTensorMemory): every
 * allocation aligned, every free returning its memory, and the frees of memory the module's own
 * C++ allocated untouched.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import tf from '../src/tf.cjs';
import { TENSOR_ALIGN, wasmBackend } from '../src/train/kernels/host.js';
import { useBackend } from './helpers.js';

before(() => useBackend('wasm'));

test('on wasm every tensor starts on a 64-byte line, whatever its size', () => {
  const be = wasmBackend(tf.backend());
  const kept: tf.Tensor[] = [];
  for (let i = 0; i < 300; i++) {
    // sizes that leave emscripten's 8-byte-aligned blocks at every offset within a line
    const t = tf.zeros([1 + ((i * 37) % 1000)]);
    assert.equal(be.getMemoryOffset(t.dataId) % TENSOR_ALIGN, 0, `tensor ${i} of ${t.size} floats at ${be.getMemoryOffset(t.dataId)}`);
    if (i % 3 === 0) t.dispose(); else kept.push(t);
  }
  // results of tfjs's own kernels too
  const a = tf.tensor2d([[1, 2, 3], [4, 5, 6]]), b = tf.matMul(a, a, false, true), c = tf.relu(b);
  for (const t of [a, b, c]) assert.equal(be.getMemoryOffset(t.dataId) % TENSOR_ALIGN, 0);
  assert.deepEqual(Array.from(c.dataSync()), [14, 32, 32, 77]);
  tf.dispose([...kept, a, b, c]);
});

test('on wasm freed tensors give their memory back: 2,000 allocations of 4 MB leave the heap where it was', () => {
  const memory = wasmBackend(tf.backend()).wasm.asm.memory;
  // one round first, so the heap has grown to what a round needs
  tf.dispose(tf.zeros([1 << 20]));
  const before = memory.buffer.byteLength;
  for (let i = 0; i < 2000; i++) tf.dispose(tf.zeros([1 << 20]));
  // a free of the wrong address would leak 8 GB here (or corrupt the heap)
  assert.ok(memory.buffer.byteLength <= before + (16 << 20), `heap ${before} → ${memory.buffer.byteLength} bytes`);
});

test('on wasm a kernel that frees buffers its C++ allocated still works (non-max suppression)', () => {
  const boxes = tf.tensor2d([[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 2, 1, 3]]), scores = tf.tensor1d([0.9, 0.8, 0.7]);
  for (let i = 0; i < 50; i++) {
    const keep = tf.image.nonMaxSuppression(boxes, scores, 3, 0.5);
    assert.deepEqual(Array.from(keep.dataSync()), [0, 2]);
    keep.dispose();
  }
  tf.dispose([boxes, scores]);
});
