import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ACTIVATIONS, ACTIVATION_SPECS, activationSpec, canDie, canSaturate, isActivation, parseCombo, specOf } from '../src/activations/index.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { closeness, useBackend } from './helpers.js';

const ZS = [-6, -2.5, -1, -0.3, -1e-3, 1e-3, 0.3, 1, 2.5, 6];

test('every activation spec: its derivative matches finite differences of its float64 formula', () => {
  for (const a of ACTIVATIONS) {
    const s = activationSpec(a);
    for (const z of ZS) {
      const h = 1e-6;
      const fd = (s.f(z + h) - s.f(z - h)) / (2 * h);
      assert.ok(Math.abs(s.df(z, s.f(z)) - fd) <= 1e-6 * Math.max(1, Math.abs(fd)), `${a}'(${z}) = ${s.df(z, s.f(z))}, finite differences ${fd}`);
    }
  }
});

test('every activation spec: device forward and derivative match the float64 formulas', async () => {
  await useBackend('wasm');
  for (const a of ACTIVATIONS) {
    const s = activationSpec(a);
    const z = tf.tensor2d(ZS, [2, ZS.length / 2]);
    const out = s.forward(tf, z);
    const d = s.derivative(tf, z, out);
    assert.ok(closeness(out.dataSync(), ZS.map((x) => s.f(x)), 1e-5, 1e-6) <= 1, `${a} forward`);
    assert.ok(closeness(d.dataSync(), ZS.map((x) => s.df(x, s.f(x))), 1e-5, 1e-6) <= 1, `${a} derivative`);
    tf.dispose([z, out, d]);
  }
});

test('every activation spec: its host mean of the derivative is the mean of df, to the last bit', () => {
  const z = Float32Array.from({ length: 999 }, (_, i) => Math.sin(i) * 5);
  for (const a of ACTIVATIONS) {
    const s = activationSpec(a);
    const out = Float32Array.from(z, (x) => s.f(x));
    let sum = 0;
    for (let i = 0; i < z.length; i++) sum += s.df(z[i], out[i]);
    assert.equal(s.meanDf(z, out), sum / z.length, a);
  }
});

test('reference values: relu, sigmoid, tanh, selu at known points', () => {
  const { relu, sigmoid, tanh, selu } = ACTIVATION_SPECS;
  assert.deepEqual([relu.f(-1), relu.f(0), relu.f(2), relu.df(0, 0), relu.df(2, 2)], [0, 0, 2, 0, 1]); // relu'(0) = 0, as PyTorch
  assert.equal(sigmoid.f(0), 0.5);
  assert.equal(sigmoid.df(0, 0.5), 0.25);
  assert.equal(tanh.f(0), 0);
  assert.equal(tanh.df(0, 0), 1);
  // PyTorch: torch.selu(torch.tensor([-1., 1.])) = [-1.1113, 1.0507]
  assert.ok(Math.abs(selu.f(-1) - -1.1113307) < 1e-6);
  assert.ok(Math.abs(selu.f(1) - 1.0507010) < 1e-6);
});

test('what saturates and what dies is stated per activation, as data', () => {
  const S = DEFAULT_PROBE_SETTINGS;
  const { relu, sigmoid, tanh, selu } = ACTIVATION_SPECS;
  assert.ok(canDie(relu) && relu.death.zAtMost === 0);
  assert.ok(!canSaturate(relu));
  for (const s of [sigmoid, tanh, selu]) assert.ok(!canDie(s) && 'cannot' in s.death && s.death.cannot.length > 0, `${s.name} cannot die, and says why`);
  assert.ok(canSaturate(sigmoid) && sigmoid.saturation.low(S) === 0.01 && sigmoid.saturation.high?.(S) === 0.99);
  assert.ok(canSaturate(tanh) && tanh.saturation.low(S) === -0.99 && tanh.saturation.high?.(S) === 0.99);
  assert.ok(canSaturate(selu) && selu.saturation.high === null && Math.abs(selu.saturation.low(S) - -0.99 * 1.0507009873554805 * 1.6732632423543772) < 1e-12);
  // a saturated sigmoid passes back less than 1% of the gradient
  assert.ok(sigmoid.df(0, sigmoid.saturation.high!(S)) < 0.01);
});

test('the combination grammar reads the registry: names in any case, one per layer', () => {
  assert.deepEqual(parseCombo('ReLU-sigmoid-relu', 3), ['relu', 'sigmoid', 'relu']);
  assert.ok(ACTIVATIONS.every(isActivation));
  assert.equal(specOf('softmax'), null, 'an activation without a spec has none (its layers get no figures), not a default');
  assert.equal(specOf('selu'), ACTIVATION_SPECS.selu);
});
