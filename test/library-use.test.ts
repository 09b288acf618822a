import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { attachProbes } from '../src/attach/session.js';
import { runExperiment } from '../src/experiment/run.js';
import { isProbeError } from '../src/errors.js';
import { FIXTURES, ROOT, tmp, useBackend } from './helpers.js';

before(() => useBackend('wasm'));

const quick = { dataDir: FIXTURES, backend: 'wasm', epochs: 1, trainLimit: 64, testLimit: 64 };
const INDEX = join(ROOT, 'dist', 'src', 'index.js');

/** Runs a script as a user's program would be run (its own Node process), importing probe from dist. */
function script(dir: string, body: string): { status: number | null; stdout: string; stderr: string } {
  const file = join(dir, 'user-script.mjs');
  // the script lives outside the project: tfjs by the file probe's own import resolves to
  const tfjs = import.meta.resolve('@tensorflow/tfjs');
  writeFileSync(file, `import * as probe from ${JSON.stringify(INDEX)};\nimport * as tf from ${JSON.stringify(tfjs)};\n${body}\n`);
  const r = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("a library user's script run twice gets probe's own error in library terms and Node's exit code, not wasm's `throw ex` and exit 7", () => {
  const dir = tmp();
  const body = `await probe.runExperiment({ combo: 'relu-relu-relu', dataDir: ${JSON.stringify(FIXTURES)}, backend: 'wasm', epochs: 1, trainLimit: 64, testLimit: 64 }, { out: ${JSON.stringify(join(dir, 'runs'))} });\nconsole.log('trained');`;
  const first = script(dir, body);
  assert.equal(first.status, 0, first.stderr);
  const second = script(dir, body);
  assert.equal(second.status, 1, 'an uncaught error exits 1, as Node does');
  assert.doesNotMatch(second.stderr, /throw ex|tf-backend-wasm/);
  assert.match(second.stderr, /ProbeError: trace .*relu-relu-relu_s1\.arrow already exists: pass \{ force: true \} to replace it, or choose another options\.out or options\.name/);
  assert.doesNotMatch(second.stderr, /--force|--out/);
});

test('a program that attaches probes to a model on the cpu backend prints no TensorFlow.js banner', () => {
  const dir = tmp();
  const r = script(dir, `
const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
const s = probe.attachProbes(model, { out: ${JSON.stringify(join(dir, 'runs'))} });
await model.fit(tf.ones([8, 4]), tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3), { epochs: 1, batchSize: 4, callbacks: [s.callback] });
s.close();
console.log(tf.getBackend());`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'cpu');
  assert.doesNotMatch(r.stderr + r.stdout, /Hi, looks like you are running TensorFlow\.js/);
});

test('unknown options are refused at run time, naming the option most likely meant', async () => {
  const out = tmp();
  const refused = (where: string, key: string, meant: string) => (e: unknown) =>
    isProbeError(e) && e.exitCode === 2 && e.message.startsWith(`${where}: unknown option '${key}' (did you mean '${meant}'?)`);
  await assert.rejects(runExperiment({ ...quick, combo: 'relu-relu-relu', epocs: 3 } as never, { out }), refused('runExperiment', 'epocs', 'epochs'));
  await assert.rejects(runExperiment({ ...quick, combo: 'relu-relu-relu' }, { out, froce: true } as never), refused('runExperiment (options)', 'froce', 'force'));
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2, activation: 'softmax' })] });
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  assert.throws(() => attachProbes(model, { out, nmae: 'x' } as never), refused('attachProbes', 'nmae', 'name'));
  assert.deepEqual(readdirSync(out), [], 'nothing was written');
  model.dispose();
});

test('attachProbes without a name gives each trace its own (a script run twice keeps both); with a name it refuses in library terms', () => {
  const out = tmp();
  const make = () => {
    const m = tf.sequential({ name: 'mynet', layers: [tf.layers.dense({ inputShape: [2], units: 2, activation: 'softmax' })] });
    m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    return m;
  };
  // a model's given name is its name in every process: the second and third trace move on
  const names = [make(), make(), make()].map((m) => { const s = attachProbes(m, { out }); s.close(); return s.run; });
  assert.deepEqual(names, ['mynet', 'mynet-2', 'mynet-3']);
  assert.deepEqual(readdirSync(out).sort(), ['mynet-2.arrow', 'mynet-3.arrow', 'mynet.arrow']);
  const twice = attachProbes(make(), { out, name: 'other' });
  twice.close();
  assert.throws(() => attachProbes(make(), { out, name: 'other' }), (e: unknown) => isProbeError(e) && e.code === 'E_EXISTS' && /pass \{ force: true \} to replace it/.test(e.message));
  const replaced = attachProbes(make(), { out, name: 'other', force: true });
  replaced.close();
  assert.equal(replaced.run, 'other');
});

test('runExperiment takes a run name: the trace is <out>/<name>.arrow; a name with a path in it is refused', async () => {
  const out = tmp();
  const r = await runExperiment({ ...quick, combo: 'relu-relu-relu' }, { out, name: 'baseline' });
  assert.equal(r.run, 'baseline');
  assert.deepEqual(readdirSync(out), ['baseline.arrow']);
  await assert.rejects(runExperiment({ ...quick, combo: 'relu-relu-relu' }, { out, name: '../escape' }), (e: unknown) => isProbeError(e) && /options\.name must be a file name without '\/'/.test(e.message));
});
