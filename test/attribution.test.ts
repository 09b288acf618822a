/**
 * The diagnosis at evaluation (measures per layer, error attribution) against a plain reference:
 * small fixed weights, a forward and per-input backward pass written sample by sample in float64,
 * and every share counted again with its own loops.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { SELU_ALPHA, SELU_SCALE, type Activation } from '../src/activations/index.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { Mlp } from '../src/train/engine.js';
import { evaluateDiagnosed } from '../src/experiment/evaluate.js';
import { initParams, type LayerParams } from '../src/train/model.js';
import { BN_EPS } from '../src/train/batchnorm.js';
import { rng } from '../src/train/rng.js';
import { Cause, CAUSE_SETS, Diag, errorCell, errorShare, GRAD_VANISHED, inputShare } from '../src/study/study.js';
import { LayerErrorShare } from '../src/trace/metrics.js';
import { act, dact } from './reference.js';
import { useBackend } from './helpers.js';

before(() => useBackend('wasm'));

const SIZES = [6, 5, 4, 3];
const N = 11;
const S = DEFAULT_PROBE_SETTINGS;

function data(seed: number) {
  const r = rng(seed, 'attribution-data');
  const pixels = Uint8Array.from({ length: N * SIZES[0] }, () => r.int(256));
  const labels = Uint8Array.from({ length: N }, () => r.int(3));
  const lut = Float32Array.from({ length: 256 }, (_, b) => (b / 255 - 0.5) * 3);
  return { test: { n: N, dim: SIZES[0], pixels, labels }, lut, lutOffset: new Int32Array(SIZES[0]), classes: 3 };
}

/** Weights chosen so that every cause applies to some inputs and not to others. */
function params(acts: readonly Activation[], seed: number): LayerParams[] {
  const p = initParams({ sizes: SIZES, activations: acts }, seed);
  // a large second layer pushes bounded activations to their extremes for some inputs
  const w2 = Float32Array.from(p[1].w, (v) => v * (acts[1] === 'selu' ? 40 : 12));
  const b3 = Float32Array.from([-0.15, 0.05, -0.05]);
  return [p[0], { ...p[1], w: w2 }, { ...p[2], b: b3 }];
}

const LA = SELU_SCALE * SELU_ALPHA;
function saturated(f: Activation, a: number, t: { sigmoidLow: number; sigmoidHigh: number; tanhSat: number; seluSat: number }): boolean {
  if (f === 'sigmoid') return a < t.sigmoidLow || a > t.sigmoidHigh;
  if (f === 'tanh') return Math.abs(a) > t.tanhSat;
  if (f === 'selu') return a < -t.seluSat * LA;
  return false;
}

/** Sample by sample, in float64: the figures the diagnosis should report. */
function reference(ps: readonly LayerParams[], acts: readonly Activation[], bn: readonly boolean[], d: ReturnType<typeof data>, gradRef: readonly number[] | null) {
  const L = ps.length;
  const per = [] as { z: number[][]; a: number[][]; g: number[]; wrong: boolean; y: number }[];
  for (let x = 0; x < N; x++) {
    let h = Array.from({ length: SIZES[0] }, (_, f) => d.lut[d.test.pixels[x * SIZES[0] + f]]);
    const zs: number[][] = [], as: number[][] = [];
    for (let l = 0; l < L; l++) {
      const { fanIn, fanOut, w, b } = ps[l];
      const z = Array.from({ length: fanOut }, (_, o) => {
        let u = b[o];
        for (let i = 0; i < fanIn; i++) u += w[o * fanIn + i] * h[i];
        return bn[l] ? u / Math.sqrt(1 + BN_EPS) : u; // running mean 0, variance 1, γ 1, β 0 before training
      });
      h = z.map((v) => act(v, acts[l]));
      zs.push(z); as.push(h);
    }
    const y = d.test.labels[x], out = as[L - 1];
    const m = Math.max(...out), e = out.map((v) => Math.exp(v - m)), s = e.reduce((p, q) => p + q, 0);
    let g = e.map((v, k) => v / s - (k === y ? 1 : 0));
    const norms: number[] = new Array(L);
    for (let l = L - 1; l >= 0; l--) {
      const du = g.map((v, o) => v * dact(zs[l][o], acts[l]) / (bn[l] ? Math.sqrt(1 + BN_EPS) : 1));
      norms[l] = Math.sqrt(du.reduce((p, q) => p + q * q, 0));
      const { fanIn, fanOut, w } = ps[l];
      g = Array.from({ length: fanIn }, (_, i) => { let t = 0; for (let o = 0; o < fanOut; o++) t += w[o * fanIn + i] * du[o]; return t; });
    }
    per.push({ z: zs, a: as, g: norms, wrong: out.indexOf(m) !== y, y });
  }
  const rows = new Map<string, number>();
  const gradMeans = Array.from({ length: L }, (_, l) => per.reduce((p, q) => p + q.g[l], 0) / N);
  const ref = gradRef ?? gradMeans;
  for (let l = 0; l < L; l++) {
    const units = SIZES[l + 1], f = acts[l], k = `${l + 1}/`;
    if (f === 'relu') {
      const off = per.map((p) => p.z[l].filter((v) => v <= 0).length);
      rows.set(k + Diag.inactivePairs, off.reduce((p, q) => p + q, 0) / (N * units));
      rows.set(k + Diag.deadInputs, off.filter((o) => o === units).length / N);
      rows.set(k + Diag.majorityInactive, off.filter((o) => o > units / 2).length / N);
      if (l === L - 1) rows.set(k + Diag.trueInactive, per.filter((p) => p.z[l][p.y] <= 0).length / N);
    } else {
      const count = (t: typeof S | { sigmoidLow: number; sigmoidHigh: number; tanhSat: number; seluSat: number }) => per.reduce((p, q) => p + q.a[l].filter((v) => saturated(f, v, t)).length, 0) / (N * units);
      rows.set(k + Diag.satPairs, count(S));
      rows.set(k + Diag.satPairsStrict, count({ sigmoidLow: 0.001, sigmoidHigh: 0.999, tanhSat: 0.999, seluSat: 0.999 }));
      rows.set(k + Diag.satPairsLoose, count({ sigmoidLow: 0.05, sigmoidHigh: 0.95, tanhSat: 0.95, seluSat: 0.95 }));
      rows.set(k + Diag.satInputs, per.filter((p) => p.a[l].filter((v) => saturated(f, v, S)).length > units / 2).length / N);
      rows.set(k + Diag.meanDeriv, per.reduce((p, q) => p + q.z[l].reduce((s2, z) => s2 + dact(z, f), 0), 0) / (N * units));
    }
    rows.set(k + Diag.gradNorm, gradMeans[l]);
    rows.set(k + Diag.gradRatio, gradMeans[l] / ref[l]);
  }
  const causes = per.map((p) => ({
    [Cause.trueUnitOff]: acts[L - 1] === 'relu' && p.z[L - 1][p.y] <= 0,
    [Cause.prevSaturated]: p.a[L - 2].filter((v) => saturated(acts[L - 2], v, S)).length > SIZES[L - 1] / 2,
    [Cause.gradVanished]: p.g[L - 2] < GRAD_VANISHED * ref[L - 2],
  }));
  const wrong = per.map((p) => p.wrong), errors = wrong.filter(Boolean).length;
  rows.set(`0/${Diag.errors}`, errors / N);
  // per layer, over the errors: most units off (relu) or at the extremes (bounded), gradient exactly 0 or below a tenth of the reference
  const errs = per.filter((p) => p.wrong);
  for (let l = 0; l < L; l++) {
    const units = SIZES[l + 1], f = acts[l], k = `${l + 1}/`;
    if (f === 'relu') rows.set(k + LayerErrorShare.mostOff, errs.filter((p) => p.z[l].filter((v) => v <= 0).length > units / 2).length / errors);
    else rows.set(k + LayerErrorShare.mostSat, errs.filter((p) => p.a[l].filter((v) => saturated(f, v, S)).length > units / 2).length / errors);
    rows.set(k + LayerErrorShare.gradZero, errs.filter((p) => p.g[l] === 0).length / errors);
    rows.set(k + LayerErrorShare.gradVanished, errs.filter((p) => p.g[l] < GRAD_VANISHED * ref[l]).length / errors);
  }
  // written out here, not taken from study.ts: true_unit_off needs a ReLU output, prev_saturated a
  // bounded layer before it; a cause that cannot apply is NaN, not 0
  const bounded = (f: Activation) => f === 'sigmoid' || f === 'tanh' || f === 'selu';
  const na: Record<Cause, boolean> = { [Cause.trueUnitOff]: acts[L - 1] !== 'relu', [Cause.prevSaturated]: !bounded(acts[L - 2]), [Cause.gradVanished]: false };
  for (const c of Object.values(Cause)) {
    rows.set(`0/${inputShare(c)}`, na[c] ? NaN : causes.filter((x) => x[c]).length / N);
    rows.set(`0/${errorShare(c)}`, na[c] ? NaN : causes.filter((x, i) => x[c] && wrong[i]).length / errors);
  }
  for (const set of CAUSE_SETS) {
    const exact = (x: Record<Cause, boolean>) => Object.values(Cause).every((c) => x[c] === set.includes(c));
    rows.set(`0/${errorCell(set)}`, causes.filter((x, i) => wrong[i] && exact(x)).length / errors);
  }
  return { rows, gradMeans, causes, wrong };
}

/** per-layer shares of errors that some fixture put strictly between 0 and 1 (checked last) */
const exercised = new Set<string>();

for (const [acts, bn] of [
  [['relu', 'sigmoid', 'relu'], [false, false, false]],
  [['tanh', 'tanh', 'relu'], [false, false, false]],
  [['sigmoid', 'selu', 'tanh'], [false, false, false]],
  [['tanh', 'relu', 'relu'], [false, false, false]],
  [['relu', 'sigmoid', 'relu'], [false, false, true]],
] as const) {
  test(`error attribution and measures match a float64 reference: ${acts.join('-')}${bn[2] ? ' with bn last' : ''}`, () => {
    const ps = params(acts, 3);
    const d = data(5);
    const model = new Mlp({ sizes: SIZES, activations: acts }, ps, { lr: 0.01, momentum: 0.5 }, 'fast', bn);
    // before training (its own reference), then against a reference 8× larger so that some gradients count as vanished
    const first = evaluateDiagnosed(model, d, S, null, 4);
    const bigRef = first.diagnosis.gradMeans.map((g) => 8 * g);
    const later = evaluateDiagnosed(model, d, S, bigRef, 4);
    model.dispose();
    for (const [ev, gradRef] of [[first, null], [later, bigRef]] as const) {
      const ref = reference(ps, acts, bn, d, gradRef);
      const got = new Map(ev.diagnosis.rows.map((r) => [`${r.layer}/${r.metric}`, r.value]));
      assert.deepEqual([...got.keys()].sort(), [...ref.rows.keys()].sort(), 'the same figures');
      for (const [k, v] of ref.rows) {
        const g = got.get(k) as number;
        if (Number.isNaN(v)) assert.ok(Number.isNaN(g), `${k}: NaN expected`);
        else assert.ok(Math.abs(g - v) <= 1e-5 * (1 + Math.abs(v)), `${k}: ${g} vs reference ${v}`);
      }
      assert.ok(Math.abs(ev.acc - (1 - (ref.rows.get(`0/${Diag.errors}`) as number))) < 1e-12, 'accuracy agrees with the error share');
    }
    // the fixture exercises both sides of every applicable cause
    const ref = reference(ps, acts, bn, d, bigRef);
    const applicable = Object.values(Cause).filter((c) => (c !== Cause.trueUnitOff || acts[2] === 'relu') && (c !== Cause.prevSaturated || acts[1] !== 'relu'));
    for (const c of applicable) {
      assert.ok(ref.causes.some((x) => x[c]) && ref.causes.some((x) => !x[c]), `fixture: ${c} applies to some inputs and not others (${ref.causes.map((x) => +x[c]).join('')})`);
    }
    assert.ok(ref.wrong.some(Boolean) && ref.wrong.some((w) => !w), 'fixture: some errors, some hits');
    for (const m of Object.values(LayerErrorShare)) for (const l of [1, 2, 3]) {
      const v = ref.rows.get(`${l}/${m}`);
      if (v !== undefined && v > 0 && v < 1) exercised.add(m);
    }
  });
}

test('the fixtures put every per-layer share of errors strictly between 0 and 1 somewhere', () => {
  assert.deepEqual([...exercised].sort(), Object.values(LayerErrorShare).sort());
});
