import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadDataset, loadMnist, MNIST_FILES, CIFAR_RECORD } from '../src/train/data.js';
import { readTrace } from '../src/trace/reader.js';
import { FIXTURES, ROOT, tmp, probeCli as probe } from './helpers.js';

const CIFAR = join(ROOT, 'fixtures', 'cifar-tiny');

test('CIFAR-10 binary batches: 3072 channel-major inputs, per-channel normalization, labels checked', () => {
  const d = loadDataset({ dataset: 'cifar10', dataDir: CIFAR });
  assert.equal(d.train.dim, 3072);
  assert.equal(d.train.n, 48);
  assert.equal(d.test.n, 16);
  const raw = readFileSync(join(CIFAR, 'data_batch_1.bin'));
  assert.equal(d.train.labels[5], raw[5 * CIFAR_RECORD]);
  assert.equal(d.train.pixels[5 * 3072 + 2000], raw[5 * CIFAR_RECORD + 1 + 2000]);
  // feature 2000 is in the green channel: (p/255 − 0.4822) / 0.2435
  assert.equal(d.lutOffset[2000], 256);
  assert.ok(Math.abs(d.lut[256 + 100] - (100 / 255 - 0.4822) / 0.2435) < 1e-6);
  const bad = tmp();
  for (const k of [1, 2, 3, 4, 5]) copyFileSync(join(CIFAR, `data_batch_${k}.bin`), join(bad, `data_batch_${k}.bin`));
  writeFileSync(join(bad, 'test_batch.bin'), readFileSync(join(CIFAR, 'test_batch.bin')).subarray(0, 5000));
  assert.throws(() => loadDataset({ dataset: 'cifar10', dataDir: bad }), /test_batch.bin has 5000 bytes, not a whole number of CIFAR-10 records/);
  assert.throws(() => loadDataset({ dataset: 'cifar10' }), /CIFAR-10 ships with no package, so it needs --data-dir: give --data-dir a folder with data_batch_1.bin/);
  assert.throws(() => loadDataset({ dataset: 'cifar10', dataDir: tmp() }), /CIFAR-10 not found in .*: give --data-dir/);
});

test('CIFAR-10 with a training batch missing is an error naming it, not a run on four fifths of the data', async () => {
  const dir = tmp();
  for (const f of readdirSync(CIFAR)) if (f !== 'data_batch_3.bin') copyFileSync(join(CIFAR, f), join(dir, f));
  assert.throws(() => loadDataset({ dataset: 'cifar10', dataDir: dir }), (e: Error & { exitCode?: number }) =>
    e.exitCode === 2 && /^CIFAR-10 in .* lacks data_batch_3\.bin: its training set is data_batch_1\.bin … data_batch_5\.bin, all of them/.test(e.message));
  const r = probe(['run', 'relu-relu-relu', '--dataset', 'cifar10', '--data-dir', dir, '--epochs', '1', '--backend', 'wasm', '--quiet', '--out', tmp()]);
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^error CIFAR-10 in .* lacks data_batch_3\.bin/);
});

test('Fashion-MNIST reads the gzipped idx files Debian ships; a missing folder says how to get them', () => {
  const dir = tmp();
  for (const f of Object.values(MNIST_FILES)) writeFileSync(join(dir, `${f}.gz`), gzipSync(readFileSync(join(FIXTURES, f))));
  const d = loadDataset({ dataset: 'fashion-mnist', dataDir: dir });
  assert.equal(d.name, 'fashion-mnist');
  assert.deepEqual(d.train.pixels, loadMnist({ dataDir: FIXTURES }).train.pixels);
  assert.ok(Math.abs(d.lut[0] - (0 - 0.286) / 0.353) < 1e-6);
  assert.throws(() => loadDataset({ dataset: 'fashion-mnist', dataDir: tmp() }), /Fashion-MNIST not found in .*: give --data-dir a folder with its four idx files/);
  writeFileSync(join(dir, `${MNIST_FILES.testLabels}.gz`), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
  assert.throws(() => loadDataset({ dataset: 'fashion-mnist', dataDir: dir }), /t10k-labels-idx1-ubyte.gz is a damaged gzip file/);
});

test('probe run on CIFAR-10 and with batch norm: input size from the data, the variant in the name and trace', () => {
  const out = tmp();
  const r = probe(['run', 'relu-sigmoid-relu', '--dataset', 'cifar10', '--data-dir', CIFAR, '--bn', 'last', '--epochs', '2', '--backend', 'wasm', '--quiet', '--json', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.run, 'relu-sigmoid-relu_bn-last_cifar10_s1');
  const t = readTrace(s.path);
  assert.equal(t.facts.layers[0].fanIn, 3072);
  assert.equal(t.config.bn, 'last');
  assert.equal(t.config.dataset, 'cifar10');
  assert.equal(t.status, 'complete');
  const bad = probe(['run', 'relu-relu-relu', '--dataset', 'imagenet', '--out', out]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Invalid values:.*dataset.*imagenet/);
});
