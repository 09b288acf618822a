import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveModelFiles } from '../src/attach/model-file.js';
import { readTrace } from '../src/trace/reader.js';
import { buildReport } from '../src/report/index.js';
import { metricRows } from '../src/trace/summary.js';
import { allModes, FIXTURES, probeCli, ROOT, tmp, useBackend } from './helpers.js';

const run = (cmd: string, args: string[]) => spawnSync(process.execPath, [cmd, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
const probe = (args: string[]) => probeCli(args);
const tiny = ['--data-dir', FIXTURES, '--train-limit', '64', '--test-limit', '32', '--epochs', '1', '--quiet'];

const models = tmp('probe-models-');
before(async () => {
  await useBackend('wasm');
  const flat = tf.sequential({ name: 'flat' });
  flat.add(tf.layers.dense({ inputShape: [784], units: 16, activation: 'tanh', name: 'hidden' }));
  flat.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'out' }));
  await saveModelFiles(flat, join(models, 'flat'));
  const image = tf.sequential({ name: 'image' });
  image.add(tf.layers.flatten({ inputShape: [28, 28, 1], name: 'flat' }));
  image.add(tf.layers.dense({ units: 16, activation: 'sigmoid', name: 'hidden' }));
  image.add(tf.layers.dense({ units: 10, activation: 'relu', name: 'out' }));
  await saveModelFiles(image, join(models, 'image'), { weights: false });
  const wide = tf.sequential({ name: 'wide' });
  wide.add(tf.layers.dense({ inputShape: [100], units: 10 }));
  await saveModelFiles(wide, join(models, 'wide'));
  const five = tf.sequential({ name: 'five' });
  five.add(tf.layers.dense({ inputShape: [784], units: 5 }));
  await saveModelFiles(five, join(models, 'five'));
  const conv = tf.sequential({ name: 'conv' });
  conv.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 5, strides: 2, activation: 'relu', name: 'conv' }));
  conv.add(tf.layers.flatten({ name: 'flat' }));
  conv.add(tf.layers.dense({ units: 10, name: 'out' }));
  await saveModelFiles(conv, join(models, 'conv'));
  // every weight NaN: tfjs's cross-entropy clips the probabilities, so the loss stays finite (16.1)
  await saveModelFiles(flat, join(models, 'nan'));
  const bin = readFileSync(join(models, 'nan', 'weights.bin'));
  new Float32Array(bin.buffer, bin.byteOffset, bin.length / 4).fill(NaN);
  writeFileSync(join(models, 'nan', 'weights.bin'), bin);
  const json = readFileSync(join(models, 'image', 'model.json'), 'utf8');
  writeFileSync(join(models, 'unknown.json'), json.replace('"class_name":"Dense"', '"class_name":"FancyDense"'));
  writeFileSync(join(models, 'graph.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] } }));
  writeFileSync(join(models, 'broken.json'), json.slice(0, 100));
  [flat, image, wide, five, conv].forEach((m) => m.dispose());
});

test('probe run --model trains a saved tfjs model with probes: layer names and classes in the summary and the trace', () => {
  const out = tmp();
  const r = probe(['run', '--model', join(models, 'flat', 'model.json'), ...tiny, '--backend', 'wasm', '--every', '1', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.status, 'complete');
  assert.equal(s.steps, 2);
  assert.deepEqual(s.layers.map((l: { name: string; activation: string }) => [l.name, l.activation]), [['hidden', 'tanh'], ['out', 'softmax']]);
  const t = readTrace(s.path);
  assert.equal(t.status, 'complete');
  assert.equal(t.facts.engine, 'attach');
  assert.deepEqual(t.facts.layers.map((l) => [l.name, l.className, l.fanIn, l.fanOut]), [['hidden', 'Dense', 784, 16], ['out', 'Dense', 16, 10]]);
  assert.equal(t.config.raw.weights, 'file');
  assert.equal(metricRows(t, 'saturation', 'sat_frac', 1).value.length, 2);
  assert.equal(metricRows(t, 'eval', 'test_acc', 0).value.length, 1);
});

test('probe run --model with non-finite weights ends diverged at step 0 and says so, as probe run does for its own MLP', () => {
  const out = tmp();
  const r = probe(['run', '--model', join(models, 'nan', 'model.json'), ...tiny.filter((a) => a !== '--quiet'), '--epochs', '3', '--backend', 'wasm', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /✘ nan_s1 · diverged at step 0 \(layer 1 \(hidden\) hidden\/kernel holds a value that is not finite\)/);
  const t = readTrace(join(out, 'nan_s1.arrow'));
  assert.equal(t.status, 'diverged');
  assert.equal(t.progress?.diverged?.step, 0);
  // it stopped: the first epoch's steps, not three epochs' worth
  assert.ok(t.progress!.stepsDone <= 2, `stepsDone ${t.progress!.stepsDone}`);
});

test('probe run --model: an image-shaped input is fed reshaped; topology only draws weights from --seed, reproducibly; unprobed layers are listed', () => {
  const [a, b] = [tmp(), tmp()];
  for (const out of [a, b]) {
    const r = probe(['run', '--model', join(models, 'image', 'model.json'), ...tiny, '--backend', 'wasm', '--seed', '5', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /not probed/);
    assert.match(r.stdout, /flat +Flatten +no activation/);
  }
  const ta = readTrace(join(a, 'image_s5.arrow')), tb = readTrace(join(b, 'image_s5.arrow'));
  assert.equal(ta.config.raw.weights, 'fresh');
  assert.deepEqual(ta.config.raw.inputShape, [28, 28, 1]);
  assert.deepEqual(ta.facts.unprobed?.map((u) => [u.name, u.className]), [['flat', 'Flatten']]);
  const probeValues = (t: typeof ta) => t.columns.value.filter((_, i) => !['eval', 'timing'].includes(t.columns.probes[t.columns.probe[i]]));
  assert.ok(probeValues(ta).length > 40);
  assert.deepEqual(probeValues(ta), probeValues(tb));
});

function expectBadModel(args: string[], pattern: RegExp) {
  const out = tmp();
  const r = probe(['run', ...args, ...tiny, '--backend', 'wasm', '--out', out]);
  assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.deepEqual(readdirSync(out), [], 'no trace written');
}

test('probe run --model: an unreadable file, a non-layers model, an unknown layer class or mismatched shapes are one line each, exit 2', () => {
  expectBadModel(['--model', join(models, 'nope', 'model.json')], /cannot read model .*nope.*no such file/);
  expectBadModel(['--model', join(models, 'broken.json')], /cannot read model .*broken\.json: not JSON/);
  expectBadModel(['--model', join(models, 'graph.json')], /graph\.json is not a TensorFlow\.js layers model: it is a graph model/);
  expectBadModel(['--model', join(models, 'unknown.json')], /unknown layer class 'FancyDense'/);
  expectBadModel(['--model', join(models, 'wide', 'model.json')], /input shape \[100\] does not fit mnist images \(28×28×1\); accepted input shapes: \[784\], \[28,28,1\], \[28,28\]/);
  expectBadModel(['--model', join(models, 'five', 'model.json')], /output shape \[5\] does not fit mnist's 10 classes/);
  expectBadModel(['relu-sigmoid-relu', '--model', join(models, 'flat', 'model.json')], /one of the two: a combination .* or --model/);
  expectBadModel(['--model', join(models, 'flat', 'model.json'), '--hidden', '30'], /--hidden does not apply with --model/);
});

test('examples/conv-mnist.mjs trains its conv net with model.fit and leaves a trace with channel-level probes', () => {
  const out = tmp();
  const r = run(join(ROOT, 'examples', 'conv-mnist.mjs'), ['--data-dir', FIXTURES, '--train-limit', '64', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const path = join(out, 'conv-sigmoid-relu.arrow');
  assert.ok(existsSync(path));
  const t = readTrace(path);
  assert.equal(t.status, 'complete');
  assert.deepEqual(t.facts.layers.map((l) => [l.className, l.activation, l.unitKind]), [['Conv2D', 'relu', 'channel'], ['Dense', 'sigmoid', 'unit'], ['Dense', 'relu', 'unit']]);
  assert.equal(metricRows(t, 'dead-relu', 'dead_units', 1).value.length, 2);
  assert.equal(metricRows(t, 'saturation', 'sat_frac', 2).value.length, 2);
  assert.equal(metricRows(t, 'eval', 'test_acc', 0).value.length, 1);
  assert.equal(t.config.batch, 32, "model.fit's batch size is recorded");
  const i = probe(['inspect', path]);
  assert.equal(i.status, 0, i.stderr);
  assert.match(i.stdout, /layers 1 \S+ Conv2D 8 channels relu, 2 \S+ Dense 64 units sigmoid, 3 \S+ Dense 10 units relu/);
  assert.match(i.stdout, /not probed \S+ \(Flatten: /);
});

test("probe report on an attached model's trace: what is wrong and per-run charts, no H1/H2 section", async () => {
  const out = tmp();
  const r = run(join(ROOT, 'examples', 'conv-mnist.mjs'), ['--data-dir', FIXTURES, '--train-limit', '64', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const rep = await buildReport([out], { noImages: true, out: join(out, 'report') });
  // its last two activations are (sigmoid, relu), yet it is no run of the study's MLP
  for (const h of rep.hypotheses) assert.deepEqual(h.runs, [], `${h.id} counts no attached run`);
  assert.ok(rep.panels.some((p) => p.startsWith('run-')), `per-run panels: ${rep.panels.join(', ')}`);
  const html = readFileSync(join(out, 'report', 'index.html'), 'utf8');
  // what is wrong with it leads; the study's sections, about its own MLP, are absent
  assert.match(html, /<section id="what-is-wrong">/);
  assert.match(html, /this page has no H1\/H2 section/);
  assert.doesNotMatch(html, /id="study"|class="hyp"/);
});

test("probe run --model under --backend auto times the model's own step on tfjs-node and wasm, and never picks one that cannot train it", { skip: (await allModes()).find((m) => m.name.startsWith('node'))!.skip }, () => {
  const cache = tmp();
  for (const [name, wasmTrains] of [['flat', true], ['conv', false]] as const) {
    const out = tmp();
    const r = probeCli(['run', '--model', join(models, name, 'model.json'), ...tiny, '--backend', 'auto', '--out', out, '--json'], { env: { PROBE_CACHE: cache } });
    assert.equal(r.status, 0, r.stderr);
    const t = readTrace(JSON.parse(r.stdout).path);
    const ms = t.facts.backendCalibration?.msPerStep as Record<string, number | null> | undefined;
    assert.ok(ms && typeof ms.node === 'number' && ms.node > 0, `${name}: ${JSON.stringify(t.facts.backendCalibration)}`);
    // wasm 4.22 has no Conv2DBackpropFilter: it cannot train the conv net, which JSON keeps as null
    if (wasmTrains) assert.ok(typeof ms.wasm === 'number' && ms.wasm > 0, `${name}: ${JSON.stringify(ms)}`);
    else assert.equal(ms.wasm, null, `${name}: ${JSON.stringify(ms)}`);
    const want = ms.wasm !== null && ms.wasm < ms.node ? 'wasm' : 'node';
    assert.equal(t.facts.backend, want === 'node' ? 'tensorflow' : 'wasm');
  }
});
