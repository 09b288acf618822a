import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModelFile, saveModelFiles } from '../src/attach/model-file.js';
import { isProbeError } from '../src/errors.js';
import { BIN, FIXTURES, ROOT, tmp, useBackend } from './helpers.js';

// hostile model files (#26): paths out of the folder, files that are not files, sizes that lie,
// models too large to build, manifests of the wrong shape, and text too long to quote

const root = tmp('probe-hostile-models-');
const good = join(root, 'good');
let json: { modelTopology: unknown; weightsManifest: { paths: string[]; weights: unknown[] }[] };
let weights: Buffer;
before(async () => {
  await useBackend('wasm');
  const m = tf.sequential({ name: 'good' });
  m.add(tf.layers.dense({ inputShape: [784], units: 10, name: 'out' }));
  await saveModelFiles(m, good);
  json = JSON.parse(readFileSync(join(good, 'model.json'), 'utf8'));
  weights = readFileSync(join(good, 'weights.bin'));
});

/** A model folder holding model.json with `edit` applied, and weights.bin unless told otherwise. */
function model(name: string, edit: (j: typeof json) => unknown, bin: Buffer | null = weights): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  if (bin) writeFileSync(join(dir, 'weights.bin'), bin);
  writeFileSync(join(dir, 'model.json'), JSON.stringify(edit(structuredClone(json))));
  return join(dir, 'model.json');
}

const withPaths = (paths: string[]) => (j: typeof json) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], paths }] });

async function refused(path: string, re: RegExp): Promise<string> {
  let message = '';
  await assert.rejects(loadModelFile(path), (e: unknown) => {
    assert.ok(isProbeError(e), `a ProbeError, not ${(e as Error).stack}`);
    assert.equal(e.exitCode, 2);
    message = e.message;
    assert.match(message, re);
    assert.equal(message.split('\n').length, 1);
    return true;
  });
  return message;
}

/** The CLI in a child with a deadline: a file that blocks would hang the test itself. */
function probeRun(modelJson: string, extra: string[] = []) {
  const r = spawnSync(process.execPath, [BIN, 'run', '--model', modelJson, '--data-dir', FIXTURES, '--train-limit', '64', '--epochs', '1', '--quiet', '--out', tmp(), ...extra],
    { cwd: ROOT, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', env: { ...process.env, FORCE_COLOR: '0' } });
  assert.equal(r.error, undefined, `probe run --model ${modelJson} did not end within 60 s`);
  return r;
}

test('weightsManifest paths are confined to the model folder, links resolved; nothing outside is read or sized', async () => {
  const outside = join(root, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'secret.bin'), Buffer.alloc(31_400 + 4 * 1234, 7));
  const size = String(statSync(join(outside, 'secret.bin')).size);
  for (const [name, p] of [['up', '../outside/secret.bin'], ['abs', join(outside, 'secret.bin')], ['proc', '/proc/self/environ'], ['passwd', '../../../../../../etc/passwd']] as const) {
    const m = await refused(model(name, withPaths([p]), null), /weightsManifest names '.+', which is not in the model's folder .*: its shards must be files in that folder$/);
    assert.ok(!m.includes(size) && !/multiple of|bytes/.test(m), `${name}: the message tells nothing of the file (${m})`);
  }
  // a link in the folder is followed, and judged by where it leads
  const linked = model('link-out', withPaths(['w.bin']), null);
  symlinkSync(join(outside, 'secret.bin'), join(root, 'link-out', 'w.bin'));
  await refused(linked, /names 'w\.bin', which is not in the model's folder/);
  const inside = model('link-in', withPaths(['sub/w.bin']), null);
  mkdirSync(join(root, 'link-in', 'sub'));
  copyFileSync(join(good, 'weights.bin'), join(root, 'link-in', 'real.bin'));
  symlinkSync(join(root, 'link-in', 'real.bin'), join(root, 'link-in', 'sub', 'w.bin'));
  const ok = await loadModelFile(inside);
  assert.equal(ok.weights, 'file');
  ok.model.dispose();
});

test('shards must be regular files of the declared sizes: a FIFO is refused at once, a short or long file before it is read', async () => {
  const fifo = model('fifo', withPaths(['w.bin']), null);
  execFileSync('mkfifo', [join(root, 'fifo', 'w.bin')]);
  const r = probeRun(fifo);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr.trim(), /^error .*names 'w\.bin', which is a FIFO \(named pipe\): its shards must be regular files$/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  // a model.json that is not a file either
  const pipe = join(root, 'fifo', 'pipe.json');
  execFileSync('mkfifo', [pipe]);
  const p = probeRun(pipe);
  assert.equal(p.status, 2, p.stderr);
  assert.match(p.stderr, /cannot read model .*pipe\.json: it is a FIFO \(named pipe\), not a file/);
  await refused(model('short', (j) => j, weights.subarray(0, weights.length - 4)), /declares 31,400 bytes of weights \(7,850 values\), but its shards hold 31,396 bytes/);
  await refused(model('long', (j) => j, Buffer.concat([weights, Buffer.alloc(1 << 20)])), /declares 31,400 bytes .* its shards hold 1,079,976 bytes/);
});

test('a model beyond the parameter budget is refused before tfjs allocates it', async () => {
  // 784 → 300,000 units: 235 M parameters, ~4.4 GiB to train: more than wasm addresses
  const huge = model('huge', (j) => {
    const t = JSON.stringify(j.modelTopology).replace('"units":10', '"units":300000');
    return { modelTopology: JSON.parse(t) };
  }, null);
  const r = probeRun(huge, ['--backend', 'wasm']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr.trim(), /^error .*model\.json declares a model of 235,500,000 parameters, which needs about 4\.4 GiB to train, more than the 4\.0 GiB the wasm backend can address: give a smaller model$/);
  // in this process (auto may pick wasm: the same limit), with nothing allocated
  const before = tf.memory().numBytes;
  await refused(huge, /declares a model of 235,500,000 parameters/);
  assert.equal(tf.memory().numBytes, before, 'nothing allocated by the refused load');
});

test('a malformed weightsManifest is one line naming the entry and what it should be', async () => {
  const cases: [unknown, RegExp][] = [
    ['x', /weightsManifest is "x", expected a list of groups/],
    [[123], /weightsManifest\[0\] is 123, expected a group \{ "paths"/],
    [[null], /weightsManifest\[0\] is null, expected a group/],
    [[{ paths: 'x', weights: [] }], /weightsManifest\[0\]\.paths is "x", expected a list of shard file names/],
    [[{ paths: ['weights.bin'] }], /weightsManifest\[0\]\.weights is missing, expected a list of weight entries/],
    [[{ paths: [7], weights: [] }], /weightsManifest\[0\]\.paths\[0\] is 7, expected a shard file name/],
    [[{ paths: ['weights.bin'], weights: [{ name: 'out/kernel', shape: [784, -1], dtype: 'float32' }] }], /weights\[0\]\.shape is \[784,-1\], expected a list of whole numbers ≥ 0/],
    [[{ paths: ['weights.bin'], weights: [{ name: 'out/kernel', shape: [784, 10], dtype: 'string' }] }], /weights\[0\]\.dtype is "string", expected float32, int32, bool, complex64/],
  ];
  for (const [k, [manifest, re]] of cases.entries()) await refused(model(`manifest-${k}`, (j) => ({ ...j, weightsManifest: manifest })), re);
});

test('a bad model.json is quoted in a few hundred characters at most, never in full', async () => {
  const long = 'x'.repeat(200_000);
  const topo = JSON.stringify(json.modelTopology);
  const cases = [
    model('long-class', () => ({ modelTopology: JSON.parse(topo.replace('"class_name":"Dense"', `"class_name":"Dense${long}"`)) }), null),
    model('long-config', () => ({ modelTopology: [[[[long]]]] }), null),
  ];
  writeFileSync(join(root, 'long-json.json'), `{"modelTopology": {"class_name": "Sequential" ${long}`);
  cases.push(join(root, 'long-json.json'));
  for (const c of cases) {
    const m = await refused(c, /./);
    assert.ok(m.length < 700, `${m.length} characters: ${m.slice(0, 300)}…`);
  }
});
