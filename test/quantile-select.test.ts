import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { distribution, QUANTILES } from '../src/probes/distribution.js';
import { DEFAULT_PROBE_SETTINGS, type LayerInfo } from '../src/probes/probe.js';
import { quantilesBySelection } from '../src/probes/select.js';
import { rng } from '../src/train/rng.js';
import { useBackend, valuesOf } from './helpers.js';

// The reference is the distribution probe's former host computation, kept here verbatim: a full
// typed-array sort (numeric, NaN last, −0 before +0), then linear interpolation at rank (n − 1)·p.
function quantileOfSorted(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p, lo = Math.floor(h), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
const bySort = (x: ArrayLike<number>, fractions: readonly number[]): number[] => {
  const sorted = Float32Array.from(x).sort();
  return fractions.map((p) => quantileOfSorted(sorted, p));
};

// the probe's levels, plus the ends, the middle and levels whose rank falls between two entries
const FRACTIONS = [...QUANTILES.map((p) => p / 100), 0, 1, 0.5, 1 / 3, 0.999];

/**
 * Identical, bit for bit: Object.is, so NaN = NaN and −0 ≠ +0. No leniency on zero signs is needed:
 * the selection may leave −0 and +0 in another order than the sort, but the interpolation never
 * returns −0 from either (select.ts says why), which the −0/+0 inputs below check.
 */
function assertSame(x: Float32Array, label: string): void {
  const before = Float32Array.from(x);
  const got = quantilesBySelection(x, FRACTIONS), want = bySort(x, FRACTIONS);
  for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], want[i]), `${label} (n=${x.length}) at p=${FRACTIONS[i]}: selection ${got[i]}, sort ${want[i]}`);
  assert.deepEqual(x, before, `${label}: the input is left untouched`);
}

const normals = (n: number, seed: number): Float32Array => {
  const r = rng(seed, 'quantile-select');
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - r.float())) * Math.cos(2 * Math.PI * r.float()));
};

test('selected quantiles equal the sorted ones on random arrays of every size from 1 to 40, and 319, 320, 8192, 16000', () => {
  for (const n of [16000, ...Array.from({ length: 40 }, (_, i) => i + 1), 319, 320, 8192]) {
    for (let seed = 0; seed < (n <= 40 ? 20 : 3); seed++) {
      const x = normals(n, seed * 1000 + n);
      assertSame(x, `normal seed ${seed}`);
      assertSame(x.map((v) => Math.max(v, 0)), `relu of normal seed ${seed}`); // about half exact zeros
      assertSame(x.map((v) => Math.round(v * 2)), `rounded normal seed ${seed}`); // a handful of values, many ties
    }
  }
});

/** x with every 7th entry from `offset` on a NaN (quiet, signalling, either sign) or an infinity, written as bits. */
function withNaNBits(x: Float32Array, offset: number): Float32Array {
  const patterns = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff, 0x7f800000, 0xff800000];
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) if ((i + offset) % 7 === 0) bits[i] = patterns[(i + offset) % patterns.length];
  return x;
}

/** Inputs that defeat naive pivots, or that only the sort's order beyond `<` decides. */
function adversarial(n: number, seed: number): [string, Float32Array][] {
  const r = rng(seed, 'quantile-select-adversarial');
  const idx = Array.from({ length: n }, (_, i) => i);
  const half = n >> 1;
  const withNaN = (share: number) => Float32Array.from(normals(n, seed), (v) => (r.float() < share ? NaN : v));
  return [
    ['ascending', Float32Array.from(idx)],
    ['descending', Float32Array.from(idx, (i) => n - i)],
    ['all equal', new Float32Array(n).fill(0.7)],
    ['all +0', new Float32Array(n)],
    ['all −0', new Float32Array(n).fill(-0)],
    ['two values', Float32Array.from(idx, () => (r.float() < 0.5 ? -1 : 1))],
    ['few values', Float32Array.from(idx, () => r.int(4))],
    ['organ pipe', Float32Array.from(idx, (i) => (i < half ? i : n - i))],
    ['sawtooth', Float32Array.from(idx, (i) => i % 7)],
    // Musser's median-of-3 killer: defeats a median-of-first-middle-last pivot
    ['median-of-3 killer', Float32Array.from(idx, (i) => (i < half ? (i % 2 === 0 ? i + 1 : half + i) : 2 * (i - half + 1)))],
    ['ascending then one small', Float32Array.from(idx, (i) => (i === n - 1 ? -1 : i))],
    ['NaN here and there', withNaN(0.05)],
    ['mostly NaN', withNaN(0.9)],
    ['all NaN', new Float32Array(n).fill(NaN)],
    // NaN of either sign and any payload (x86 makes 0·∞ a negative NaN): the sort puts all of them last
    ['NaN bit patterns', withNaNBits(normals(n, seed), r.int(1 << 30))],
    ['one NaN first', Float32Array.from(idx, (i) => (i === 0 ? NaN : i))],
    ['±Infinity', Float32Array.from(normals(n, seed), (v) => (v > 1 ? Infinity : v < -1 ? -Infinity : v))],
    ['only ±Infinity', Float32Array.from(idx, () => (r.float() < 0.5 ? -Infinity : Infinity))],
    ['−0 and +0', Float32Array.from(idx, () => (r.float() < 0.5 ? -0 : 0))],
    ['−0, +0, ±1 and NaN', Float32Array.from(idx, () => [-0, 0, 1, -1, NaN][r.int(5)])],
    ['relu with −0 in z', Float32Array.from(normals(n, seed), (v) => (v < 0 ? (r.float() < 0.3 ? -0 : 0) : v))],
    // the selection first counts entries per range of leading bits (sign, exponent, 3 mantissa bits)
    ['all in one bucket', Float32Array.from(idx, () => 1 + r.float() / 9)],
    ['one bucket, one value apart', Float32Array.from(idx, (i) => (i === half ? 1.01 : 1))],
    ['every exponent, both signs', Float32Array.from(idx, () => (r.float() < 0.5 ? -1 : 1) * 2 ** (r.int(277) - 149) * (1 + r.float()))],
    ['subnormals and zeros', Float32Array.from(idx, () => [0, -0, 1e-45, -1e-45, 1e-40, -3e-39][r.int(6)])],
    ['saturated sigmoid', Float32Array.from(normals(n, seed), (v) => 1 / (1 + Math.exp(-8 * v)))],
    ['extremes of float32', Float32Array.from(idx, () => [3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, -1.401298464324817e-45][r.int(4)])],
  ];
}

test('selected quantiles equal the sorted ones on adversarial inputs: ordered, organ pipe, ties, NaN, ±Infinity, −0/+0', () => {
  for (const n of [1, 2, 3, 4, 5, 16, 17, 33, 127, 128, 129, 319, 320, 1000, 8192, 16000]) {
    for (const seed of [1, 2]) for (const [label, x] of adversarial(n, seed)) assertSame(x, `${label} seed ${seed}`);
  }
});

test('an empty array gives NaN at every level, as indexing an empty sorted array does', () => {
  assertSame(new Float32Array(0), 'empty');
});

test('the distribution probe on wasm host memory records the sort-based values, bit for bit, for a 500×32 layer with NaN and −0', async () => {
  await useBackend('wasm');
  const layer: LayerInfo = { layer: 1, activation: 'relu', fanIn: 784, fanOut: 500, isOutput: false };
  const r = rng(7, 'quantile-select-probe');
  const zs = Float32Array.from(normals(500 * 32, 7), (v) => (r.float() < 0.01 ? NaN : v));
  const as = Float32Array.from(zs, (v) => (v > 0 ? v : v === v ? (r.float() < 0.5 ? -0 : 0) : NaN));
  const z = tf.tensor2d(zs, [500, 32]), a = tf.tensor2d(as, [500, 32]);
  const got = tf.tidy(() => valuesOf(distribution.compute({ forward: { layer: 1, activation: 'relu', input: z, z, a }, layer, settings: DEFAULT_PROBE_SETTINGS } as never)));
  tf.dispose([z, a]);
  const levels = QUANTILES.map((p) => p / 100);
  const want = [...bySort(zs, levels), ...bySort(as, levels)].map(Math.fround); // the kernel's output is float32
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], want[i]), `metric ${i}: probe ${got[i]}, sort ${want[i]}`);
});
