// The register-blocked product routine every product kernel is made from, and the plain product.
//
// Every product of the step has one form, C[i, n] = Σ_s A[i·ai + s·as] · B[s·N + n] (element
// strides; B and C row-major with N columns), so one register-blocked routine serves all three:
//   forward        Z[M×N]  = W[M×K] · X[K×N]      A = W, ai = K, as = 1, then + b
//   backward data  G[K×N]  = Wᵀ · D[M×N]          A = W, ai = 1, as = K
//   weight grad    dW[M×K] = D[M×N] · Xb[N×K]     A = D, ai = N, as = 1 (Xb batch-major)
// A kernel is the routine plus an epilogue that consumes each block of C while it is in registers
// (sgd.js: the optimizer step; activations.js: the activation or its derivative).
// A block is MR rows of C × NV vectors of 4 columns: MR·NV accumulators, NV loads of B and one
// splat of A per step s. Leftover rows use MR = 1, leftover columns narrower blocks, then scalars.

import { ACT_LOCALS } from './activation-math.js';

// 2 × 4 measured best here (~80% of a register-only relaxed_madd loop; 4×3, 3×4 and wider spill)
const MR = 2, NV = 4;
// columns per panel (a multiple of 4·NV): B's panel of the study's first layer, 784 × 64 floats, is 200 KB
const PANEL = 64;

/**
 * The routine and the helpers epilogues use, for one kernel set.
 * @param {{ relaxed: boolean, mr?: number, nv?: number }} o
 */
export function gemmRoutine({ relaxed, mr = MR, nv = NV }) {
  const madd = (a, b, c) => (relaxed ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`);
  const fmadd = (a, b, c) => `(f32.add (f32.mul ${a} ${b}) ${c})`;
  const L = (n) => `(local.get $${n})`;

  /** the body computing one block of R rows × V vectors at row $i, column $n (bytes: $arow, $bcol) */
  function block(R, V, epilogue) {
    const acc = (r, v) => `$c${r}_${v}`;
    const s = [];
    for (let r = 0; r < R; r++) for (let v = 0; v < V; v++) s.push(`(local.set ${acc(r, v)} (v128.const i32x4 0 0 0 0))`);
    // pointers: $pa walks A along s (stride as·4), $pb walks B down its rows (stride N·4)
    s.push(`(local.set $pa (local.get $arow)) (local.set $pb (local.get $bcol)) (local.set $s (local.get $S))`);
    s.push(`(block $sdone (loop $sl`);
    s.push(`(br_if $sdone (i32.eqz (local.get $s)))`);
    for (let v = 0; v < V; v++) s.push(`(local.set $x${v} (v128.load offset=${16 * v} (local.get $pb)))`);
    for (let r = 0; r < R; r++) {
      s.push(`(local.set $w (v128.load32_splat (i32.add (local.get $pa) (i32.mul (local.get $ai4) (i32.const ${r})))))`);
      for (let v = 0; v < V; v++) s.push(`(local.set ${acc(r, v)} ${madd(L('w'), L(`x${v}`), L(acc(r, v).slice(1)))})`);
    }
    s.push(`(local.set $pa (i32.add (local.get $pa) (local.get $as4))) (local.set $pb (i32.add (local.get $pb) (local.get $n4)))`);
    s.push(`(local.set $s (i32.sub (local.get $s) (i32.const 1))) (br $sl)))`);
    for (let r = 0; r < R; r++) for (let v = 0; v < V; v++) s.push(epilogue(r, v, L(acc(r, v).slice(1))));
    return s.join('\n');
  }

  // C address of row $i + r, column $n + 4v, in bytes
  const cAddr = (base, r, v) => `(i32.add (local.get ${base}) (i32.add (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $n4)) (i32.add (i32.shl (local.get $n) (i32.const 2)) (i32.const ${16 * v}))))`;

  /**
   * One kernel. Columns run in panels of `panel` (all rows for one panel, then the next), so the
   * panel of B the rows reuse stays in cache when N is large (evaluation: N = 1,000 inputs); the
   * step's N = 32 is one panel. Each element of C is computed the same way whatever the panel.
   */
  function routine(name, params, epilogueVec, epilogueScalar, prologue, rowEnd, finale, panel = PANEL) {
    const out = [];
    const emit = (s) => out.push(s);
    const locals = ['(local $i i32) (local $n i32) (local $s i32) (local $pa i32) (local $pb i32) (local $arow i32) (local $bcol i32)',
      '(local $n0 i32) (local $nend i32) (local $ai4 i32) (local $as4 i32) (local $n4 i32) (local $w v128) (local $acc f32) (local $g v128) (local $nv v128) (local $nw v128) (local $ga f32) (local $va f32) (local $wa f32)',
      '(local $sg v128) (local $sv v128) (local $sw v128) (local $mx v128) (local $sgs f64) (local $svs f64) (local $sws f64) (local $mxs f32) (local $bias v128) (local $lr4 v128) (local $mu4 v128)',
      `(local $zv v128) (local $av v128) (local $gv v128) ${ACT_LOCALS}`,
      Array.from({ length: nv }, (_, v) => `(local $x${v} v128)`).join(' '),
      Array.from({ length: mr }, (_, r) => Array.from({ length: nv }, (_, v) => `(local $c${r}_${v} v128)`).join(' ')).join(' ')].join('\n');
    emit(`(func (export "${name}") ${params}\n${locals}`);
    emit(`(local.set $ai4 (i32.shl (local.get $ai) (i32.const 2))) (local.set $as4 (i32.shl (local.get $as) (i32.const 2))) (local.set $n4 (i32.shl (local.get $N) (i32.const 2)))`);
    emit(prologue);
    emit('(block $pdone (loop $pl (br_if $pdone (i32.ge_u (local.get $n0) (local.get $N)))');
    emit(`(local.set $nend (i32.add (local.get $n0) (i32.const ${panel}))) (if (i32.gt_u (local.get $nend) (local.get $N)) (then (local.set $nend (local.get $N)))) (local.set $i (i32.const 0))`);
    // rows in blocks of R, then one at a time
    for (const R of [mr, 1]) {
      emit(`(block $rdone${R} (loop $rl${R}`);
      emit(`(br_if $rdone${R} (i32.gt_u (i32.add (local.get $i) (i32.const ${R})) (local.get $I)))`);
      emit(`(local.set $arow (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $ai4))))`);
      emit(`(local.set $n (local.get $n0))`);
      for (let V = nv; V >= 1; V--) {
        emit(`(block $cdone${R}_${V} (loop $cl${R}_${V}`);
        emit(`(br_if $cdone${R}_${V} (i32.gt_u (i32.add (local.get $n) (i32.const ${4 * V})) (local.get $nend)))`);
        emit(`(local.set $bcol (i32.add (local.get $B) (i32.shl (local.get $n) (i32.const 2))))`);
        emit(block(R, V, epilogueVec));
        emit(`(local.set $n (i32.add (local.get $n) (i32.const ${4 * V}))) (br $cl${R}_${V})))`);
      }
      // the last N mod 4 columns, one scalar dot product each
      emit(`(block $tdone${R} (loop $tl${R}`);
      emit(`(br_if $tdone${R} (i32.ge_u (local.get $n) (local.get $nend)))`);
      for (let r = 0; r < R; r++) {
        emit(`(local.set $acc (f32.const 0)) (local.set $pa (i32.add (local.get $arow) (i32.mul (local.get $ai4) (i32.const ${r})))) (local.set $pb (i32.add (local.get $B) (i32.shl (local.get $n) (i32.const 2)))) (local.set $s (local.get $S))`);
        emit(`(block $sd (loop $sl (br_if $sd (i32.eqz (local.get $s)))`);
        emit(`(local.set $acc ${relaxed ? `(f32x4.extract_lane 0 (f32x4.relaxed_madd (f32x4.splat (f32.load (local.get $pa))) (f32x4.splat (f32.load (local.get $pb))) (f32x4.splat (local.get $acc))))` : fmadd('(f32.load (local.get $pa))', '(f32.load (local.get $pb))', '(local.get $acc)')})`);
        emit(`(local.set $pa (i32.add (local.get $pa) (local.get $as4))) (local.set $pb (i32.add (local.get $pb) (local.get $n4))) (local.set $s (i32.sub (local.get $s) (i32.const 1))) (br $sl)))`);
        emit(epilogueScalar(r));
      }
      emit(`(local.set $n (i32.add (local.get $n) (i32.const 1))) (br $tl${R})))`);
      emit(rowEnd);
      emit(`(local.set $i (i32.add (local.get $i) (i32.const ${R}))) (br $rl${R})))`);
    }
    emit('(local.set $n0 (local.get $nend)) (br $pl)))');
    emit(finale);
    emit(')');
    return out.join('\n');
  }
  // C address of row $i + r, column $n (the scalar tail's), in bytes
  const sAddr = (base, r) => `(i32.add (local.get ${base}) (i32.add (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $n4)) (i32.shl (local.get $n) (i32.const 2))))`;
  return { madd, routine, cAddr, sAddr };
}

/** C = A·B (+ bias[i] when $b ≠ 0): the forward product (`dense`) and the backward one (`backData`). */
export function gemm(g) {
  const { routine, cAddr } = g;
  return routine('gemm', '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $C i32) (param $I i32) (param $S i32) (param $N i32) (param $b i32)',
    (r, v, acc) => `(v128.store ${cAddr('$C', r, v)} (if (result v128) (local.get $b) (then (f32x4.add ${acc} (v128.load32_splat (i32.add (local.get $b) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 2)))))) (else ${acc})))`,
    (r) => `(f32.store (i32.add (local.get $C) (i32.add (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $n4)) (i32.shl (local.get $n) (i32.const 2)))) (if (result f32) (local.get $b) (then (f32.add (local.get $acc) (f32.load (i32.add (local.get $b) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 2)))))) (else (local.get $acc))))`,
    '', '', '');
}
