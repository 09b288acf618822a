import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Activation } from '../src/activations/index.js';
import { ProbeHost } from '../src/probes/host.js';
import { DEFAULT_PROBE_SETTINGS, type LayerInfo } from '../src/probes/probe.js';
import { PROBE_IDS, type ProbeId } from '../src/probes/ids.js';
import { PROBES } from '../src/probes/registry.js';
import { deadRelu } from '../src/probes/dead-relu.js';
import { saturation } from '../src/probes/saturation.js';
import { Mlp } from '../src/train/engine.js';
import type { EngineKind } from '../src/train/choices.js';
import { Metric } from '../src/trace/metrics.js';
import { registerKernels } from '../src/host-kernels.js';
import type { BackwardTensors, ForwardTensors, NetworkTensors, StepInfo, TensorHooks, UpdateTensors } from '../src/train/hooks.js';
import { initParams, type LayerParams } from '../src/train/model.js';
import { REFERENCES, refDeadRelu, refDistribution, refOutputGrad, refSatWrong, refSaturation, type Reference, type SeenLayer, type SeenStep } from './probe-reference.js';
import { distribution, QUANTILES } from '../src/probes/distribution.js';
import { allModes, closeness, disposeBatch, randomBatchData, toBatch, useBackend, valuesOf, type Mode } from './helpers.js';

// wasm (the SIMD statistics, the probes' JavaScript loops, tf-op composites), cpu, and tfjs-node when it loads

const MODES: readonly Mode[] = [
  ...(await allModes()).slice(0, 1),
  // PROBE_WASM_STATS=0: the JavaScript loops the cpu backend runs, on wasm's heap
  { name: 'wasm, host kernels, JavaScript loops', enter: async () => { await useBackend('wasm'); process.env.PROBE_WASM_STATS = '0'; }, leave: async () => { delete process.env.PROBE_WASM_STATS; } },
  ...(await allModes()).slice(1),
];
before(() => useBackend('wasm'));

const SIZES = [30, 24, 16, 10];
const S = DEFAULT_PROBE_SETTINGS;

/** Runs one step with every probe, and keeps host copies of what the probes saw. */
function probedStep(acts: Activation[], params: LayerParams[], B = 12, seed = 4, engine: EngineKind = 'fast') {
  const layers: LayerInfo[] = acts.map((activation, i) => ({ layer: i + 1, activation, fanIn: SIZES[i], fanOut: SIZES[i + 1], isOutput: i === acts.length - 1 }));
  const host = new ProbeHost(PROBES, layers, S);
  const seen: Record<number, Record<string, Float32Array>> = {};
  let net: { loss: number; output: Float32Array; labels: Int32Array } | null = null;
  const keep = (l: number, k: string, t: tf.Tensor) => ((seen[l] ??= {})[k] = t.dataSync() as Float32Array);
  const hooks: TensorHooks = {
    onForward: (t: ForwardTensors, i: StepInfo) => { keep(t.layer, 'z', t.z); keep(t.layer, 'a', t.a); host.onForward(t); void i; },
    onBackward: (t: BackwardTensors) => { keep(t.layer, 'dz', t.dz); keep(t.layer, 'dW', t.dW); keep(t.layer, 'db', t.db); host.onBackward(t); },
    onUpdate: (t: UpdateTensors) => { keep(t.layer, 'w', t.w); keep(t.layer, 'v', t.velocityW); host.onUpdate(t); },
    onStepTensors: (t: NetworkTensors, i: StepInfo) => {
      net = { loss: t.loss.dataSync()[0], output: t.output.dataSync() as Float32Array, labels: t.labels.dataSync() as Int32Array };
      return host.onStepTensors(t, i);
    },
  };
  const model = new Mlp({ sizes: SIZES, activations: acts }, params, { lr: 0.01, momentum: 0.5 }, engine);
  const { x, labels } = randomBatchData(B, SIZES[0], 10, seed);
  const batch = toBatch(x, labels, SIZES[0], 10);
  const values = model.step(batch, hooks, { step: 0, epoch: 1, batchSize: B });
  disposeBatch(batch);
  model.dispose();
  const got = (layer: number, probe: string) => host.slots.flatMap((s, i) => (s.layer === layer && s.probe === probe ? [values[i + 1]] : []));
  return { host, seen, net: net!, got, layers, B };
}

/** Every probe of the registry against its plain-loop reference (REFERENCES), on every layer. */
function checkAll(acts: Activation[], params: LayerParams[], label: string) {
  const { seen, net, got, layers, B } = probedStep(acts, params);
  const step: SeenStep = { ...net, classes: 10, batch: B, lr: 0.01, settings: S };
  for (const probe of PROBES) {
    const ref = REFERENCES[probe.id as ProbeId] as Reference | undefined;
    assert.ok(ref, `probe '${probe.id}' has no plain-loop reference in test/probe-reference.ts`);
    const check = (layer: number, want: number[]) => {
      const have = got(layer, probe.id);
      assert.equal(have.length, want.length, `${label} layer ${layer} ${probe.id}: ${have.length} values, the reference has ${want.length}`);
      assert.ok(closeness(have, want, ref.rtol, ref.atol) <= 1, `${label} layer ${layer} ${probe.id}`);
    };
    if (probe.scope === 'network') check(0, ref.network!(step));
    else for (const L of layers) check(L.layer, ref.layer!(L, seen[L.layer] as unknown as SeenLayer, step));
  }
}

for (const mode of MODES) {
  test(`every probe matches its plain-loop reference on all activations (${mode.name})`, { skip: mode.skip }, async () => {
    await mode.enter();
    try {
      for (const acts of [['relu', 'sigmoid', 'relu'], ['tanh', 'selu', 'relu'], ['sigmoid', 'tanh', 'selu'], ['selu', 'relu', 'tanh'], ['relu', 'tanh', 'sigmoid']] as Activation[][]) {
        checkAll(acts, initParams({ sizes: SIZES, activations: acts }, 5), `${mode.name} ${acts.join('-')}`);
      }
    } finally {
      await mode.leave();
    }
  });
}

test('an all-dead ReLU layer: every grain reads 1, no unit active, and no gradient flows below it', () => {
  const acts: Activation[] = ['relu', 'relu', 'relu'];
  const params = initParams({ sizes: SIZES, activations: acts }, 5);
  params[2].b.fill(-100); // output layer dead for every input
  checkAll(acts, params, 'dead output');
  const { got } = probedStep(acts, params);
  assert.deepEqual(got(3, 'dead-relu'), [1, 1, 1, ...new Array(10).fill(0)]);
  assert.deepEqual(got(3, 'gradients').slice(0, 6), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(got(1, 'gradients').slice(0, 6), [0, 0, 0, 0, 0, 0]);
  assert.equal(got(1, 'gradients')[6], 0, 'no update, so the update ratio is 0');
});

test('a fully saturated sigmoid layer reads sat_frac 1 and a vanishing mean derivative', () => {
  const acts: Activation[] = ['relu', 'sigmoid', 'relu'];
  const params = initParams({ sizes: SIZES, activations: acts }, 5);
  params[1].b.fill(50);
  checkAll(acts, params, 'saturated high');
  const { got } = probedStep(acts, params);
  const [frac, low, high, deriv] = got(2, 'saturation');
  assert.equal(frac, 1);
  assert.equal(low, 0);
  assert.equal(high, 1);
  assert.ok(deriv < 1e-20, `σ' = ${deriv}`);
  params[1].b.fill(-50);
  const [frac2, low2, high2] = probedStep(acts, params).got(2, 'saturation');
  assert.deepEqual([frac2, low2, high2], [1, 1, 0]);
});

// sigmoid outputs [classes][batch] (3 × 4) and labels: samples 0 and 1 saturated on the side their
// label asks for; sample 2: a non-label unit at 1 and the label's at 0; sample 3: a non-label unit at 1
const OUT_A = [[0.999, 0.001, 0.999, 0.5], [0.001, 0.999, 0.5, 0.001], [0.001, 0.001, 0.001, 0.999]];
const OUT_LABELS = [0, 1, 2, 0];

/** saturation's values on a hand-made sigmoid output layer with its dL/da given (null: none) */
function outputSaturation(a: number[][], grad: ArrayLike<number> | null) {
  const logit = (p: number) => Math.log(p / (1 - p));
  const z = tf.tensor2d(a.map((r) => r.map(logit))) as tf.Tensor2D;
  const act = tf.sigmoid(z) as tf.Tensor2D;
  const g = grad ? tf.tensor2d(Array.from(grad), z.shape) as tf.Tensor2D : null;
  const layer: LayerInfo = { layer: 2, activation: 'sigmoid', fanIn: 4, fanOut: a.length, isOutput: true };
  const ctx = { info: { step: 0, epoch: 1, batchSize: a[0].length }, layer, forward: { layer: 2, activation: 'sigmoid' as const, input: z, z, a: act }, backward: null!, update: null!, ...(g ? { outputGrad: g } : {}), settings: S };
  // the probe host registers a probe's kernels; here the probe runs alone
  registerKernels(saturation.kernels ?? []);
  const names = saturation.metrics(layer, S);
  const v = tf.tidy(() => valuesOf(saturation.compute(ctx)));
  const aHost = act.dataSync().slice();
  tf.dispose([z, act, ...(g ? [g] : [])]);
  return { got: Object.fromEntries(names.map((n, i) => [n, v[i]])), a: aHost };
}

for (const mode of MODES) {
  test(`sat_wrong_frac counts an output saturated against its loss only: the side the label asks for reads 0, the wrong side is counted (hand-made outputs, labels, gradients; ${mode.name})`, { skip: mode.skip }, async () => {
    await mode.enter();
    try {
      // a float32 mean on the device may be an ulp off the quotient
      const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 1e-6, `${what}: ${got}, want ${want}`);
      const xent = refOutputGrad(OUT_A.flat(), OUT_LABELS, 3, 4);
      const { got, a } = outputSaturation(OUT_A, xent);
      // every entry but the two 0.5s is in the band; wrong: (unit 0, sample 2), (unit 2, sample 2), (unit 2, sample 3)
      near(got[Metric.satFrac], 10 / 12, 'sat_frac');
      near(got[Metric.satWrongFrac], 3 / 12, 'sat_wrong_frac');
      near(got[Metric.satWrongFrac], refSatWrong('sigmoid', a, xent, S), 'sat_wrong_frac against the reference');
      // the two right-side samples alone: saturated through and through, none of it on the wrong side
      const right = OUT_A.map((r) => r.slice(0, 2));
      const r = outputSaturation(right, refOutputGrad(right.flat(), OUT_LABELS.slice(0, 2), 3, 2)).got;
      assert.deepEqual([r[Metric.satFrac], r[Metric.satWrongFrac]], [1, 0]);
      // another loss's gradient, given as it is: the opposite signs make the other saturated entries wrong
      const flipped = xent.map((g) => -g);
      near(outputSaturation(OUT_A, flipped).got[Metric.satWrongFrac], 7 / 12, 'flipped');
      assert.equal(refSatWrong('sigmoid', a, flipped, S), 7 / 12);
      // a gradient exactly 0 or NaN points nowhere: not counted
      const flat = Float32Array.from(xent, (_g, i) => (i % 2 ? 0 : NaN));
      assert.equal(outputSaturation(OUT_A, flat).got[Metric.satWrongFrac], 0);
      // without dL/da the share is not known: NaN, never the plain share
      assert.ok(Number.isNaN(outputSaturation(OUT_A, null).got[Metric.satWrongFrac]));
    } finally {
      await mode.leave();
    }
  });
}

for (const engine of ['fast', 'tape'] as const) {
  test(`probe's MLP hands the probes its loss's dL/da: an output pinned at 1 is on the wrong side but for the label's unit, one pinned at 0 only there (${engine} engine)`, () => {
    const acts: Activation[] = ['relu', 'relu', 'sigmoid'];
    const params = initParams({ sizes: SIZES, activations: acts }, 5);
    const wrongAt = (bias: number) => {
      params[2].b.fill(bias);
      const { got, host, seen, net, B } = probedStep(acts, params, 12, 4, engine);
      const names = host.slots.filter((x) => x.layer === 3 && x.probe === 'saturation').map((x) => x.metric);
      const v = got(3, 'saturation');
      const want = refSatWrong('sigmoid', seen[3].a, refOutputGrad(net.output, net.labels, 10, B), S);
      return { sat: v[names.indexOf(Metric.satFrac)], wrong: v[names.indexOf(Metric.satWrongFrac)], want };
    };
    const high = wrongAt(50), low = wrongAt(-50);
    assert.deepEqual([high.sat, high.wrong, high.want], [1, Math.fround(0.9), 0.9]);
    assert.deepEqual([low.sat, low.wrong, low.want], [1, Math.fround(0.1), 0.1]);
  });
}

function layerCtx(z: number[][], activation: Activation) {
  const t = tf.tensor2d(z);
  const a = activation === 'relu' ? tf.relu(t) : tf.sigmoid(t);
  const layer: LayerInfo = { layer: 1, activation, fanIn: 1, fanOut: z.length, isOutput: false };
  return { t, a, ctx: { info: { step: 0, epoch: 1, batchSize: z[0].length }, layer, forward: { layer: 1, activation, input: t, z: t as tf.Tensor2D, a: a as tf.Tensor2D }, backward: null!, update: null!, settings: S } };
}

test('dead-relu counts a unit dead only if inactive for every sample, and a sample dead only if every unit is', () => {
  // rows are units, columns samples; z = 0 counts as inactive
  const { t, a, ctx } = layerCtx([[0, -1, -2, 3], [-1, -1, -1, -1], [-5, 2, 0, -1]], 'relu');
  const v = valuesOf(deadRelu.compute(ctx));
  tf.dispose([t, a]);
  // entries z ≤ 0: 10 of 12; units dead: the second only; samples dead: the first and third
  assert.deepEqual(v.slice(0, 3), [10 / 12, 1 / 3, 2 / 4].map(Math.fround));
  assert.deepEqual(v.slice(3), [0.25, 0, 0.25]);
});

test('saturation thresholds are strict: a sigmoid output exactly at a threshold is not saturated', () => {
  const logit = (p: number) => Math.log(p / (1 - p));
  const s2 = { ...S, sigmoidLow: 0.25, sigmoidHigh: 0.75 };
  const zs = [[logit(0.1), logit(0.25), logit(0.5), logit(0.9)]];
  const { t, a, ctx } = layerCtx(zs, 'sigmoid');
  const v = valuesOf(saturation.compute({ ...ctx, settings: s2 }));
  const av = a.dataSync();
  tf.dispose([t, a]);
  const low = Array.from(av).filter((x) => x < 0.25).length, high = Array.from(av).filter((x) => x > 0.75).length;
  assert.equal(low, 1, 'fixture: exactly one output below 0.25 in float32');
  assert.deepEqual(v.slice(0, 3), [(low + high) / 4, low / 4, high / 4]);
});

test('probe host lays out one slot per value and checks what probes return', () => {
  const layers: LayerInfo[] = [{ layer: 1, activation: 'sigmoid', fanIn: 4, fanOut: 3, isOutput: false }, { layer: 2, activation: 'relu', fanIn: 3, fanOut: 2, isOutput: true }];
  const host = new ProbeHost(PROBES, layers, S);
  const names = host.slots.map((s) => `${s.layer}/${s.probe}/${s.metric}`);
  assert.deepEqual(names.filter((n) => n.startsWith('0/')), ['0/loss/loss', '0/loss/accuracy']);
  assert.ok(names.includes('1/saturation/mean_deriv') && !names.includes('1/dead-relu/inactive_frac'));
  assert.ok(names.includes('2/dead-relu/active_u1') && !names.includes('2/saturation/sat_frac'));
  assert.equal(new Set(names).size, names.length);
  // windowed slots come after every per-step slot, so the per-step values are one contiguous run
  assert.equal(host.stepSlots, host.slots.findIndex((x) => x.window));
  assert.ok(host.slots.slice(host.stepSlots).every((x) => x.window && x.probe === 'unit-activity'));
  assert.deepEqual(host.slots.slice(host.stepSlots).map((x) => `${x.layer}/${x.metric}`), ['2/u0', '2/u1']);
  const bad = new ProbeHost([{ ...saturation, compute: () => tf.zeros([2]) as tf.Tensor1D }], layers, S);
  const z = tf.zeros([3, 2]) as tf.Tensor2D;
  bad.onForward({ layer: 1, activation: 'sigmoid', input: z, z, a: z });
  assert.throws(() => tf.tidy(() => bad.onStepTensors({ loss: tf.scalar(0), output: z, labels: tf.tensor1d([0, 0], 'int32') }, { step: 0, epoch: 1, batchSize: 2 }) ?? []), /returned shape \[2\] for 4 metrics/);
  z.dispose();
});

/** closeness, where NaN matches only NaN */
function closeOrBothNaN(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): number {
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) return Infinity;
  const keep = (xs: ArrayLike<number>) => Array.from(xs).filter((v) => !Number.isNaN(v));
  return closeness(keep(a), keep(b), rtol, atol);
}

for (const mode of MODES) {
  test(`NaN is never counted dead or saturated, and every probe still matches its reference (${mode.name})`, { skip: mode.skip }, async () => {
    await mode.enter();
    try {
      // rows are units, columns samples: unit 0 is NaN but for one inactive sample; unit 1 all NaN
      const z = [[NaN, NaN, -1, NaN], [NaN, NaN, NaN, NaN], [-2, NaN, -3, 4]];
      const { t, a, ctx } = layerCtx(z, 'relu');
      const dead = valuesOf(deadRelu.compute(ctx));
      tf.dispose([t, a]);
      // z ≤ 0: 3 of 12; no unit and no sample is inactive throughout; unit 2 active once in 4
      assert.deepEqual(dead, [3 / 12, 0, 0, 0, 0, 0.25].map(Math.fround));
      assert.deepEqual(dead, refDeadRelu(z.flat(), 3, 4, true).map(Math.fround));
      const sig = layerCtx([[NaN, 50, NaN, -50]], 'sigmoid');
      const sat = valuesOf(saturation.compute(sig.ctx));
      const ref = refSaturation('sigmoid', sig.t.dataSync(), sig.a.dataSync(), S);
      tf.dispose([sig.t, sig.a]);
      assert.deepEqual(sat.slice(0, 3), [0.5, 0.25, 0.25], 'only the two finite extremes are saturated');
      assert.ok(Number.isNaN(sat[3]), "the mean derivative over NaN outputs is NaN, not a number that looks like one");
      assert.ok(closeOrBothNaN(sat, ref, 1e-6, 1e-7) <= 1);
      // a whole step through a network with one NaN weight: every probe against its reference
      for (const acts of [['relu', 'sigmoid', 'relu'], ['tanh', 'selu', 'relu']] as Activation[][]) {
        const params = initParams({ sizes: SIZES, activations: acts }, 5);
        params[0].w[0] = NaN;
        const { seen, got, layers, B } = probedStep(acts, params);
        for (const L of layers) {
          const s = seen[L.layer];
          const [probe, want] = L.activation === 'relu'
            ? ['dead-relu', refDeadRelu(s.z, L.fanOut, B, L.fanOut <= S.perUnitMax)]
            : ['saturation', refSaturation(L.activation as Activation, s.z, s.a, S)];
          assert.ok(closeOrBothNaN(got(L.layer, probe), want, 1e-5, 1e-7) <= 1, `${acts.join('-')} layer ${L.layer} ${probe}: ${got(L.layer, probe)} vs ${want}`);
          if (probe === 'dead-relu') assert.ok(got(L.layer, probe)[1] < 1, `layer ${L.layer}: NaN units are not dead`);
        }
      }
    } finally {
      await mode.leave();
    }
  });
}

for (const mode of MODES) {
  test(`update_ratio is NaN, not 0, where ‖W‖ overflows float32 (${mode.name})`, { skip: mode.skip }, async () => {
    await mode.enter();
    try {
      // layer 1 (sigmoid): unit 0 keeps small weights and learns; every other unit's weights are
      // 1e19 (finite in float32, Σw² is not), which saturates it, so the update itself stays finite
      const acts: Activation[] = ['sigmoid', 'relu', 'relu'];
      const params = initParams({ sizes: SIZES, activations: acts }, 5);
      params[0].w.fill(1e19, SIZES[0]);
      const { got } = probedStep(acts, params);
      const g1 = got(1, 'gradients');
      assert.ok(Number.isFinite(g1[0]) && g1[0] > 0, `layer 1's ‖dL/dW‖ is a finite, non-zero number: ${g1[0]}`);
      assert.ok(Number.isNaN(g1[g1.length - 1]), `layer 1's update_ratio: ${g1[g1.length - 1]}, not NaN`);
      const g2 = got(2, 'gradients');
      assert.ok(g2[g2.length - 1] > 0 && Number.isFinite(g2[g2.length - 1]), `layer 2's update_ratio stays a number: ${g2[g2.length - 1]}`);
    } finally {
      await mode.leave();
    }
  });
}

test('distribution quantiles interpolate between ranks like the reference, on ties, constants and tiny layers', async () => {
  const layer: LayerInfo = { layer: 1, activation: 'relu', fanIn: 1, fanOut: 2, isOutput: false };
  for (const mode of MODES) {
    if (mode.skip) continue; // tfjs-node when it does not load here
    await mode.enter();
    try {
      for (const zs of [[3, -1, 2, 0, 0, 7], [5, 5, 5, 5], [0.25, -0.5], [-2]]) {
        const units = zs.length > 1 ? 2 : 1;
        const z = tf.tensor2d(zs, [units, zs.length / units]);
        const a = tf.relu(z);
        const got = tf.tidy(() => valuesOf(distribution.compute({ forward: { layer: 1, activation: 'relu', input: z, z, a }, layer, settings: S } as never)));
        assert.ok(closeness(got, refDistribution(zs, zs.map((v) => Math.max(v, 0)), QUANTILES), 1e-6, 1e-7) <= 1, `${mode.name} ${zs}: ${got}`);
        tf.dispose([z, a]);
      }
    } finally {
      await mode.leave();
    }
  }
  // the reference itself, by hand: rank (n − 1)·p = 1.5 and 0.03 in sorted 1..4 and 0,0,100,100
  assert.deepEqual(refDistribution([4, 1, 3, 2], [100, 0, 0, 100], [50, 1]).map((v) => +v.toFixed(6)), [2.5, 1.03, 50, 0]);
});

test('each probe keeps its schedule: distribution every --distribution-every steps, loss and unit-activity every step, the others every --every', () => {
  const layers: LayerInfo[] = [{ layer: 1, activation: 'sigmoid', fanIn: 4, fanOut: 3, isOutput: false }, { layer: 2, activation: 'relu', fanIn: 3, fanOut: 2, isOutput: true }];
  const host = new ProbeHost(PROBES, layers, { ...S, distributionEvery: 4 });
  // the probes this test knows the schedules of (another probe, with its own schedule, is not this test's)
  const known = new Set(['dead-relu', 'distribution', 'gradients', 'loss', 'saturation', 'unit-activity']);
  const probesAt = (step: number, every: number) => (host.due(step, every) ? [...new Set(host.activeSlots.map((i) => host.slots[i].probe))].filter((p) => known.has(p)).sort() : []);
  assert.deepEqual(probesAt(0, 3), ['dead-relu', 'distribution', 'gradients', 'loss', 'saturation', 'unit-activity']);
  assert.deepEqual(probesAt(3, 3), ['dead-relu', 'gradients', 'loss', 'saturation', 'unit-activity']);
  assert.deepEqual(probesAt(4, 3), ['distribution', 'loss', 'unit-activity']);
  assert.deepEqual(probesAt(5, 3), ['loss', 'unit-activity']);
  // the engine computes the optimizer's moments only where a due probe reads the update (gradients)
  assert.deepEqual([0, 3, 4, 5].map((s) => (host.due(s, 3), host.wantsMoments())), [true, true, false, false]);
  // the active slots ascend, per-step ones before windowed ones, and name every value of the due probes
  host.due(8, 1);
  assert.deepEqual(host.activeSlots, host.slots.map((_, i) => i));
  host.due(3, 3);
  const act = host.activeSlots;
  assert.ok(act.every((v, i) => i === 0 || v > act[i - 1]));
  assert.ok(act.filter((i) => host.slots[i].window).every((i) => i >= host.stepSlots));
});

test('the registry lists every probe once, in the order of the ids declared for config and readers (probes/ids.ts)', () => {
  assert.deepEqual(PROBES.map((p) => p.id), [...PROBE_IDS]);
});
