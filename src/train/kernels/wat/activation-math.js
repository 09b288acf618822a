// WebAssembly text for the activations and their derivatives on f32x4 vectors, inlined by
// wat/activations.js into the products' epilogues (a = f(z) as z leaves the forward product;
// dz = g ⊙ f'(z) as g leaves the backward one), so neither pass goes through memory again.
//
// WebAssembly has no exp: exp(x) is Cephes' expf (range reduction x = n·ln2 + r with ln2 split in
// two, a degree-6 polynomial for e^r on |r| ≤ ln2/2, 2^n from the exponent bits), within ~2 ulp of
// float64; x is clamped to [−87.34, 88.72], so it saturates at ~1.2e−38 and ~3.4e38 instead of 0
// and ∞ (no activation below tells them apart). NaN in gives NaN out for every activation (min/max/
// nearest keep NaN), so a diverged run's NaNs are never hidden as zeros.
// The derivatives repeat tfjs's op sequence in activation-ops.ts (same operations, same order,
// no FMA), so given the same z, a and g they round identically.
// SELU's λ and λα arrive as parameters $p0, $p1 (the activation's spec owns the constants).

/** v128 locals the snippets below use; the caller declares them once per function. */
export const ACT_LOCALS = '(local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128) (local $t4 v128) (local $q0 v128) (local $q1 v128)';

/** The activations with a fused form, in the order of their export suffixes. */
export const FUSED_ACTIVATIONS = ['relu', 'sigmoid', 'tanh', 'selu'];

const C = (c) => `(v128.const f32x4 ${c} ${c} ${c} ${c})`;
const get = (n) => `(local.get ${n})`;
const set = (n, e) => `(local.set ${n} ${e})`;
const mul = (a, b) => `(f32x4.mul ${a} ${b})`;
const add = (a, b) => `(f32x4.add ${a} ${b})`;
const sub = (a, b) => `(f32x4.sub ${a} ${b})`;

/** Statements setting local `dst` to exp(`x`) (an expression evaluated once); uses $t0–$t2. */
function exp(dst, x) {
  const poly = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
  return [
    set('$t0', `(f32x4.min (f32x4.max ${x} ${C(-87.33654)}) ${C(88.72283)})`),
    // n = round(x·log2 e); r = x − n·ln2, ln2 = 0.693359375 − 2.12194440e−4 (the first part exact in f32)
    set('$t1', `(f32x4.nearest ${mul(get('$t0'), C(1.44269504088896341))})`),
    set('$t0', sub(sub(get('$t0'), mul(get('$t1'), C(0.693359375))), mul(get('$t1'), C(-2.12194440e-4)))),
    set('$t2', C(poly[0])),
    ...poly.slice(1).map((p) => set('$t2', add(mul(get('$t2'), get('$t0')), C(p)))),
    // e^r = 1 + r + r²·P(r)
    set('$t2', add(add(mul(get('$t2'), mul(get('$t0'), get('$t0'))), get('$t0')), C(1))),
    // ·2^(n−1)·2: n reaches 128 at the top of the range, where 2^n itself is not a float
    set(dst, mul(mul(get('$t2'), `(i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s ${get('$t1')}) (v128.const i32x4 126 126 126 126)) (i32.const 23))`), C(2))),
  ].join('\n');
}

/** Statements setting local `dst` to f(`z`) for a local `z`; uses $t0–$t4. */
export function activate(kind, dst, z) {
  switch (kind) {
    // max keeps NaN (as PyTorch's relu, tfjs-node's and the cpu backend's); tfjs-backend-wasm's
    // relu maps NaN to 0 on most entries of a layer, so PROBE_FUSED=0 differs there, and only there
    case 'relu': return set(dst, `(f32x4.max ${get(z)} ${C(0)})`);
    case 'sigmoid': return [exp('$t3', `(f32x4.neg ${get(z)})`), set(dst, `(f32x4.div ${C(1)} ${add(C(1), get('$t3'))})`)].join('\n');
    case 'tanh': {
      // Cephes' tanhf: an odd polynomial below |z| = 0.625, else 1 − 2/(e^{2|z|} + 1) with z's sign
      const poly = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
      return [
        set('$t4', mul(get(z), get(z))),
        set('$t3', C(poly[0])),
        ...poly.slice(1).map((p) => set('$t3', add(mul(get('$t3'), get('$t4')), C(p)))),
        set('$t4', add(mul(mul(get('$t3'), get('$t4')), get(z)), get(z))),
        exp('$t3', mul(`(f32x4.abs ${get(z)})`, C(2))),
        set('$t3', sub(C(1), `(f32x4.div ${C(2)} ${add(get('$t3'), C(1))})`)),
        // copy z's sign bit onto 1 − 2/(e + 1)
        set('$t3', `(v128.bitselect ${get(z)} ${get('$t3')} (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))`),
        set(dst, `(v128.bitselect ${get('$t4')} ${get('$t3')} (f32x4.lt (f32x4.abs ${get(z)}) ${C(0.625)}))`),
      ].join('\n');
    }
    case 'selu':
      // λz above 0, λα(e^z − 1) at or below (e^min(z, 0): the exponential of the branch not taken stays finite)
      return [
        exp('$t3', `(f32x4.min ${get(z)} ${C(0)})`),
        set('$t3', mul(`(f32x4.splat (local.get $p1))`, sub(get('$t3'), C(1)))),
        set(dst, `(v128.bitselect ${mul(`(f32x4.splat (local.get $p0))`, get(z))} ${get('$t3')} (f32x4.gt ${get(z)} ${C(0)}))`),
      ].join('\n');
    default: throw new Error(`no fused form for activation ${kind}`);
  }
}

/** step(z) as tf.step computes it: 1 for z > 0, 0 otherwise, NaN for NaN (all-ones bits are a NaN). */
const step = (z) => `(v128.or (v128.and (f32x4.gt ${get(z)} ${C(0)}) ${C(1)}) (f32x4.ne ${get(z)} ${get(z)}))`;

/** An expression for g·f'(z) from locals `g`, `z`, `a`, in tfjs's operation order; uses $q0, $q1. */
export function derivative(kind, g, z, a) {
  switch (kind) {
    case 'relu': return mul(get(g), step(z));
    case 'sigmoid': return mul(get(g), mul(get(a), sub(C(1), get(a))));
    case 'tanh': return mul(get(g), sub(C(1), mul(get(a), get(a))));
    case 'selu':
      // pos·λ + (1 − pos)·(a + λα) written as neg + pos·(λ − neg), neg = a + λα
      return `(block (result v128) ${set('$q0', add(get(a), '(f32x4.splat (local.get $p1))'))} ${set('$q1', step(z))} ${mul(get(g), add(get('$q0'), mul(get('$q1'), sub('(f32x4.splat (local.get $p0))', get('$q0')))))})`;
    default: throw new Error(`no fused form for activation ${kind}`);
  }
}
