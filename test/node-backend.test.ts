import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { attachKernels, weightMoments } from '../src/attach/moments.js';
import { readTrace } from '../src/trace/reader.js';
import { registerKernels } from '../src/train/kernels/registry.js';
import { rng } from '../src/train/rng.js';
import { allModes, FIXTURES, tmp, probeCli as probe } from './helpers.js';

// The engine and probe reference tests run on tfjs-node through allModes(); this runs the real
// binary on it, end to end.
const node = (await allModes()).find((m) => m.name.startsWith('node'))!;

test('probe run --backend node trains on tfjs-node, records it, and the same seed gives the same probe values', { skip: node.skip }, () => {
  const a = tmp(), b = tmp();
  for (const dir of [a, b]) {
    const r = probe(['run', 'relu-sigmoid-relu', '--data-dir', FIXTURES, '--backend', 'node', '--quiet', '--json', '--epochs', '2', '--seed', '3', '--out', dir]);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.status, 'complete');
    assert.equal(s.backend, 'node');
    assert.equal(s.steps, 20);
  }
  const [ta, tb] = [a, b].map((d) => readTrace(join(d, 'relu-sigmoid-relu_s3.arrow')));
  assert.equal(ta.facts.backend, 'node');
  // everything but wall-clock figures
  const probeValues = ({ columns: c }: typeof ta) => c.value.filter((_, i) => !['eval', 'timing'].includes(c.probes[c.probe[i]]) || c.metrics[c.metric[i]].startsWith('test') || c.metrics[c.metric[i]] === 'train_loss');
  assert.ok(probeValues(ta).length > 500);
  assert.ok(probeValues(ta).every(Number.isFinite));
  assert.deepEqual(Buffer.from(probeValues(ta).buffer), Buffer.from(probeValues(tb).buffer));
});

// attach/moments.ts on every backend: tfjs-node once ran its fused kernels without this one.
// Its kernels registered as an attach session registers them.
registerKernels(attachKernels);
for (const mode of await allModes()) {
  test(`the optimizer-step moments equal plain float64 loops: ${mode.name}`, { skip: mode.skip }, async () => {
    await mode.enter();
    try {
      const r = rng(7, 'moments');
      const draw = (n: number) => Float32Array.from({ length: n }, () => 2 * r.float() - 1);
      // a conv kernel's shape and a vector: moments reduce over every axis, and several parts combine
      const parts = [[3, 3, 2, 4], [5], [2503]].map((shape) => { // 2503: several 1024-element chunks and a tail
        const n = shape.reduce((a, b) => a * b, 1);
        return { g: draw(n), wb: draw(n), wa: draw(n), shape };
      });
      let gg = 0, gm = 0, dd = 0, ww = 0;
      for (const p of parts) for (let i = 0; i < p.g.length; i++) {
        gg += p.g[i] ** 2; gm = Math.max(gm, Math.abs(p.g[i])); dd += (p.wb[i] - p.wa[i]) ** 2; ww += p.wa[i] ** 2;
      }
      const ts = parts.map((p) => ({ grad: tf.tensor(p.g, p.shape), before: tf.tensor(p.wb, p.shape), after: tf.tensor(p.wa, p.shape) }));
      const got = Array.from(weightMoments(ts).dataSync());
      tf.dispose(ts.flatMap((t) => [t.grad, t.before, t.after]));
      [gg, gm, dd, ww].forEach((want, k) => assert.ok(Math.abs(got[k] - want) <= 1e-5 * (1 + want), `moment ${k}: ${got[k]} vs ${want}`));
    } finally {
      await mode.leave();
    }
  });
}
