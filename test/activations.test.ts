import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ACTIVATIONS, ACTIVATION_SPECS, activationName, canDie, canSaturate, isActivation, parseCombo, specOf, type ActivationSpec } from '../src/activations/index.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { closeness, useBackend } from './helpers.js';

const ZS = [-6, -2.5, -1, -0.3, -1e-3, 1e-3, 0.3, 1, 2.5, 6];

/** every spec, and those an attached layer's parameter makes (a ReLU capped at 3, at 0.1) */
const SPECS: Readonly<Record<string, ActivationSpec>> = { ...ACTIVATION_SPECS, ...Object.fromEntries(['relu(maxValue=3)', 'relu(maxValue=0.1)'].map((n) => [n, specOf(n)!])) };
const ALL = Object.keys(SPECS);

test('every activation spec: its derivative matches finite differences of its float64 formula', () => {
  for (const a of ALL) {
    const s = SPECS[a];
    for (const z of ZS) {
      if (s.kinks?.some((k) => Math.abs(k - z) < 1e-5)) continue;
      const h = 1e-6;
      const fd = (s.f(z + h) - s.f(z - h)) / (2 * h);
      assert.ok(Math.abs(s.df(z, s.f(z)) - fd) <= 1e-6 * Math.max(1, Math.abs(fd)), `${a}'(${z}) = ${s.df(z, s.f(z))}, finite differences ${fd}`);
    }
  }
});

test('every activation spec: device forward and derivative match the float64 formulas', async () => {
  await useBackend('wasm');
  for (const a of ALL) {
    const s = SPECS[a];
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
  for (const a of ALL) {
    const s = SPECS[a];
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

test('the activations of attached models: reference values, and what saturates or dies, or why not', () => {
  const { relu6, leakyrelu, elu, hardsigmoid, softsign, swish, gelu, linear } = ACTIVATION_SPECS;
  const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);
  assert.deepEqual([relu6.f(-1), relu6.f(3), relu6.f(7), relu6.df(3, 3), relu6.df(7, 6)], [0, 3, 6, 1, 0]);
  near(leakyrelu.f(-1), -0.01, 'leakyrelu(−1)');
  near(elu.f(-1), Math.exp(-1) - 1, 'elu(−1)');
  assert.deepEqual([hardsigmoid.f(-3), hardsigmoid.f(0), hardsigmoid.f(3)], [0, 0.5, 1]);
  near(softsign.f(1), 0.5, 'softsign(1)');
  near(swish.f(1), 1 / (1 + Math.exp(-1)), 'swish(1)');
  near(gelu.f(1), 0.8413447460685429, 'gelu(1) = Φ(1)'); // PyTorch: F.gelu(torch.tensor(1.)) = 0.8413
  near(gelu.f(-3), -3 * 0.0013498980316301, 'gelu(−3)');
  assert.equal(linear.f(-2.5), -2.5);
  assert.ok(canDie(relu6) && relu6.death.zAtMost === 0);
  assert.ok(canDie(hardsigmoid) && hardsigmoid.death.zAtMost === -2.5);
  for (const s of [leakyrelu, elu, softsign, swish, gelu, linear]) assert.ok(!canDie(s) && 'cannot' in s.death && s.death.cannot.length > 0, `${s.name} cannot die, and says why`);
  for (const s of [leakyrelu, swish, gelu, linear]) assert.ok(!canSaturate(s) && 'cannot' in s.saturation && s.saturation.cannot.length > 0, `${s.name} cannot saturate, and says why`);
  const S = DEFAULT_PROBE_SETTINGS;
  assert.ok(canSaturate(hardsigmoid) && hardsigmoid.df(-3, 0) === 0 && 0 < hardsigmoid.saturation.low(S) && Math.fround(1) > hardsigmoid.saturation.high!(S));
  assert.ok(canSaturate(relu6) && relu6.saturation.high!(S) < 6 && Math.fround(relu6.saturation.high!(S)) < 6);
  assert.ok(canSaturate(elu) && elu.saturation.low(S) === -0.99 && elu.saturation.high === null);
});

test('tfjs spells two activations differently; the engine grammar stays the four its kernels implement', () => {
  assert.equal(specOf('leakyReLU'), ACTIVATION_SPECS.leakyrelu);
  assert.equal(specOf('hardSigmoid'), ACTIVATION_SPECS.hardsigmoid);
  assert.deepEqual([...ACTIVATIONS], ['relu', 'tanh', 'sigmoid', 'selu']);
  assert.equal(isActivation('gelu'), false);
});

test('a parameter of an attached layer that changes the figures is part of the name probes read', () => {
  const S = DEFAULT_PROBE_SETTINGS;
  assert.equal(activationName('relu', null), 'relu');
  assert.equal(activationName('relu', 3), 'relu(maxValue=3)');
  assert.equal(activationName('leakyReLU', 0.3), 'leakyReLU', 'a slope changes no figure: the plain spec');
  const capped = specOf(activationName('relu', 3))!;
  assert.equal(capped.name, 'relu(maxValue=3)', 'the spec names itself as it is looked up (kernels pass the name on)');
  assert.equal(specOf('relu(maxValue=3)'), capped, 'built once');
  assert.equal(specOf('relu(maxValue=6)'), ACTIVATION_SPECS.relu6);
  assert.deepEqual([capped.f(-1), capped.f(2), capped.f(5), capped.df(2, 2), capped.df(5, 3)], [0, 2, 3, 1, 0]);
  assert.ok(canDie(capped) && capped.death.zAtMost === 0);
  // saturated exactly at the cap: the float32 just below it is not
  assert.ok(canSaturate(capped) && capped.saturation.high!(S) < 3 && Math.fround(capped.saturation.high!(S)) === capped.saturation.high!(S));
  const below3 = new Float32Array([3]); new Int32Array(below3.buffer)[0] -= 1;
  assert.equal(capped.saturation.high!(S), below3[0]);
  const tenth = specOf('relu(maxValue=0.1)')!;
  assert.ok(canSaturate(tenth) && tenth.saturation.high!(S) < Math.fround(0.1) && tenth.f(1) === Math.fround(0.1));
  // no rule for a cap ≤ 0 or a parameter the family does not have: no figures, not a guess
  for (const n of ['relu(maxValue=0)', 'relu(maxValue=-1)', 'relu(alpha=3)', 'relu(maxValue=x)', 'softmax(maxValue=3)']) assert.equal(specOf(n), null, n);
});
