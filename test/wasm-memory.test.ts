import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { rng } from '../src/train/rng.js';
import { sgdMomentum, sgdHost } from '../src/train/kernels/sgd.js';
import { concatVectors } from '../src/train/kernels/host.js';
import { closeness, useBackend } from './helpers.js';

// Its own file, so its own process: the wasm memory starts small and the sizes below stay small.
before(() => useBackend('wasm'));

type WasmHeap = { wasm: { asm: { memory: WebAssembly.Memory } } };

test('host kernels stay right when their own outputs grow the wasm memory (issue 8, item 2)', () => {
  const memory = (tf.backend() as unknown as WasmHeap).wasm.asm.memory;
  // Outputs as large as the memory was at start: the inputs' placement grows it by at most what
  // they need plus 20% (emscripten's policy), so the kernel's own allocation has to grow it again.
  const n = memory.buffer.byteLength / 8 + 1001;
  const r = rng(8, 'grow');
  const [w, v, g] = [0, 1, 2].map(() => Float32Array.from({ length: n }, () => r.float() - 0.5));
  const ref = { v: new Float32Array(n), w: new Float32Array(n) };
  const m = sgdHost(g, v, w, ref.v, ref.w, 0.01, 0.9);
  const inputs = [w, v, g].map((a) => tf.tensor2d(a, [1, n]));
  const before = memory.buffer.byteLength;
  const res = sgdMomentum(inputs[0], inputs[1], inputs[2], 0.01, 0.9);
  assert.ok(memory.buffer.byteLength > before, 'the memory grew during the kernel');
  // values read outside tf.tidy: tidy walks returned containers element by element
  assert.deepEqual(res.v.dataSync(), ref.v);
  assert.deepEqual(res.w.dataSync(), ref.w);
  const mo = res.moments.dataSync();
  assert.ok(closeness(mo, m, 1e-4) <= 1, `moments ${mo} vs ${m}`);
  tf.dispose([...inputs, res.v, res.w, res.moments]);

  const parts = [g.subarray(0, 3), w, v, g];
  const tensors = parts.map((p) => tf.tensor1d(p));
  const size = memory.buffer.byteLength;
  const joined = concatVectors(tensors);
  assert.ok(memory.buffer.byteLength > size, 'the memory grew during the concatenation');
  const values = joined.dataSync();
  let o = 0;
  for (const p of parts) { assert.deepEqual(values.subarray(o, o + p.length), p); o += p.length; }
  tf.dispose([...tensors, joined]);
});
