// Generates the WebAssembly text of the matrix-product kernels (assembled by scripts/build-wasm.js,
// once with f32x4.relaxed_madd and once with f32x4.mul + f32x4.add for runtimes without relaxed SIMD).
//
// Every product of the step has one form, C[i, n] = Σ_s A[i·ai + s·as] · B[s·N + n] (element
// strides; B and C row-major with N columns), so one register-blocked routine serves all three:
//   forward        Z[M×N]  = W[M×K] · X[K×N]      A = W, ai = K, as = 1, then + b
//   backward data  G[K×N]  = Wᵀ · D[M×N]          A = W, ai = 1, as = K
//   weight grad    dW[M×K] = D[M×N] · Xb[N×K]     A = D, ai = N, as = 1 (Xb batch-major)
// The weight gradient is never stored: its epilogue applies SGD with momentum to each block while
// it is in registers (v' = v·μ + g, w' = w − v'·lr, op by op like PyTorch) and accumulates the
// moments the gradients probe reads ([Σg², max|g|, Σv'², Σw'²], f32 per block, f64 across blocks).
// A block is MR rows of C × NV vectors of 4 columns: MR·NV accumulators, NV loads of B and one
// splat of A per step s. Leftover rows use MR = 1, leftover columns narrower blocks, then scalars.

import { ACT_LOCALS, FUSED_ACTIVATIONS, activate, derivative } from './activation-wat.js';

// 2 × 4 measured best here (~80% of a register-only relaxed_madd loop; 4×3, 3×4 and wider spill)
const MR = 2, NV = 4;
// columns per panel (a multiple of 4·NV): B's panel of the study's first layer, 784 × 64 floats, is 200 KB
const PANEL = 64;

/** @param {{ relaxed: boolean, mr?: number, nv?: number }} o */
export default function products({ relaxed, mr = MR, nv = NV }) {
  const madd = (a, b, c) => (relaxed ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`);
  const fmadd = (a, b, c) => `(f32.add (f32.mul ${a} ${b}) ${c})`;
  const L = (n) => `(local.get $${n})`;
  const out = [];
  const emit = (s) => out.push(s);

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
  }

  emit('(module');
  emit('(import "env" "memory" (memory 1))');
  // C = A·B (+ bias[i] when $bias ≠ 0)
  routine('gemm', '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $C i32) (param $I i32) (param $S i32) (param $N i32) (param $b i32)',
    (r, v, acc) => `(v128.store ${cAddr('$C', r, v)} (if (result v128) (local.get $b) (then (f32x4.add ${acc} (v128.load32_splat (i32.add (local.get $b) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 2)))))) (else ${acc})))`,
    (r) => `(f32.store (i32.add (local.get $C) (i32.add (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $n4)) (i32.shl (local.get $n) (i32.const 2)))) (if (result f32) (local.get $b) (then (f32.add (local.get $acc) (f32.load (i32.add (local.get $b) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 2)))))) (else (local.get $acc))))`,
    '', '', '');
  // weight gradient fused with SGD: V, W, Vo, Wo have C's shape; stats ← [Σg², max|g|, Σv'², Σw'²]
  const sgdVec = (r, v, acc) => [
    `(local.set $g ${acc})`,
    `(local.set $nv (f32x4.add (f32x4.mul (v128.load ${cAddr('$V', r, v)}) (local.get $mu4)) (local.get $g)))`,
    `(local.set $nw (f32x4.sub (v128.load ${cAddr('$W', r, v)}) (f32x4.mul (local.get $nv) (local.get $lr4))))`,
    `(v128.store ${cAddr('$Vo', r, v)} (local.get $nv)) (v128.store ${cAddr('$Wo', r, v)} (local.get $nw))`,
    `(local.set $sg (f32x4.add (local.get $sg) (f32x4.mul (local.get $g) (local.get $g))))`,
    `(local.set $sv (f32x4.add (local.get $sv) (f32x4.mul (local.get $nv) (local.get $nv))))`,
    `(local.set $sw (f32x4.add (local.get $sw) (f32x4.mul (local.get $nw) (local.get $nw))))`,
    `(local.set $mx (f32x4.pmax (local.get $mx) (f32x4.abs (local.get $g))))`,
  ].join('\n');
  const fold = (x, y) => `(local.set ${y} (f64.add (local.get ${y}) (f64.add (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get ${x}))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get ${x})))) (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get ${x}))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get ${x}))))))) (local.set ${x} (v128.const i32x4 0 0 0 0))`;
  const sgdScalarAddr = (base, r) => `(i32.add (local.get ${base}) (i32.add (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $n4)) (i32.shl (local.get $n) (i32.const 2))))`;
  const sgdScalar = (r) => [
    `(local.set $ga (local.get $acc))`,
    `(local.set $va (f32.add (f32.mul (f32.load ${sgdScalarAddr('$V', r)}) (local.get $mu)) (local.get $ga)))`,
    `(local.set $wa (f32.sub (f32.load ${sgdScalarAddr('$W', r)}) (f32.mul (local.get $va) (local.get $lr))))`,
    `(f32.store ${sgdScalarAddr('$Vo', r)} (local.get $va)) (f32.store ${sgdScalarAddr('$Wo', r)} (local.get $wa))`,
    `(local.set $sgs (f64.add (local.get $sgs) (f64.promote_f32 (f32.mul (local.get $ga) (local.get $ga)))))`,
    `(local.set $svs (f64.add (local.get $svs) (f64.promote_f32 (f32.mul (local.get $va) (local.get $va)))))`,
    `(local.set $sws (f64.add (local.get $sws) (f64.promote_f32 (f32.mul (local.get $wa) (local.get $wa)))))`,
    `(local.set $mxs (f32.max (local.get $mxs) (f32.abs (local.get $ga))))`,
  ].join('\n');
  routine('gemm_sgd', '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $I i32) (param $S i32) (param $N i32) (param $V i32) (param $W i32) (param $Vo i32) (param $Wo i32) (param $lr f32) (param $mu f32) (param $stats i32)',
    sgdVec,
    sgdScalar,
    '(local.set $lr4 (f32x4.splat (local.get $lr))) (local.set $mu4 (f32x4.splat (local.get $mu)))',
    // f32 lanes within a group of rows (≤ 4·N elements), f64 across groups: ~1e-6 relative
    [fold('$sg', '$sgs'), fold('$sv', '$svs'), fold('$sw', '$sws')].join('\n'),
    [
      `(local.set $mxs (f32.max (local.get $mxs) (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx))) (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx))))))`,
      '(if (f64.ne (local.get $sgs) (local.get $sgs)) (then (local.set $mxs (f32.demote_f64 (local.get $sgs)))))',
      '(f32.store (local.get $stats) (f32.demote_f64 (local.get $sgs)))',
      '(f32.store offset=4 (local.get $stats) (local.get $mxs))',
      '(f32.store offset=8 (local.get $stats) (f32.demote_f64 (local.get $svs)))',
      '(f32.store offset=12 (local.get $stats) (f32.demote_f64 (local.get $sws)))'].join('\n'),
    // one panel: its B (the batch-major input, batch × fanIn) is small, and the moments' f32 lane
    // groups stay whole rows
    1 << 30);
  // The forward product with its activation in the epilogue, one export per activation:
  // C = z = A·B + bias, Ao = f(z); both outputs written in the same pass.
  const sAddr = sgdScalarAddr;
  for (const kind of FUSED_ACTIVATIONS) {
    // when $T ≠ 0 it also writes a transposed ([N × I], batch-major: the next layer's weight
    // gradient reads it), four scalar stores per vector instead of a separate transpose
    const tAddr = (r, col) => `(i32.add (local.get $T) (i32.shl (i32.add (i32.mul ${col} (local.get $I)) (i32.add (local.get $i) (i32.const ${r}))) (i32.const 2)))`;
    routine(`gemm_${kind}`, '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $C i32) (param $Ao i32) (param $T i32) (param $I i32) (param $S i32) (param $N i32) (param $b i32) (param $p0 f32) (param $p1 f32)',
      (r, v, acc) => [
        `(local.set $zv (f32x4.add ${acc} (v128.load32_splat (i32.add (local.get $b) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 2))))))`,
        `(v128.store ${cAddr('$C', r, v)} (local.get $zv))`,
        activate(kind, '$av', '$zv'),
        `(v128.store ${cAddr('$Ao', r, v)} (local.get $av))`,
        `(if (local.get $T) (then ${[0, 1, 2, 3].map((j) => `(f32.store ${tAddr(r, `(i32.add (local.get $n) (i32.const ${4 * v + j}))`)} (f32x4.extract_lane ${j} (local.get $av)))`).join(' ')}))`].join('\n'),
      (r) => [
        `(local.set $zv (f32x4.splat (f32.add (local.get $acc) (f32.load (i32.add (local.get $b) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 2)))))))`,
        `(f32.store ${sAddr('$C', r)} (f32x4.extract_lane 0 (local.get $zv)))`,
        activate(kind, '$av', '$zv'),
        `(f32.store ${sAddr('$Ao', r)} (f32x4.extract_lane 0 (local.get $av)))`,
        `(if (local.get $T) (then (f32.store ${tAddr(r, '(local.get $n)')} (f32x4.extract_lane 0 (local.get $av)))))`].join('\n'),
      '', '', '');
    // the backward product to the layer below with that layer's activation derivative in the
    // epilogue: C = dz = (A·B) ⊙ f'(z), z and a = f(z) read from Z and Za (C's shape); g is never stored
    routine(`back_${kind}`, '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $C i32) (param $Z i32) (param $Za i32) (param $I i32) (param $S i32) (param $N i32) (param $p0 f32) (param $p1 f32)',
      (r, v, acc) => [
        `(local.set $gv ${acc}) (local.set $zv (v128.load ${cAddr('$Z', r, v)})) (local.set $av (v128.load ${cAddr('$Za', r, v)}))`,
        `(v128.store ${cAddr('$C', r, v)} ${derivative(kind, '$gv', '$zv', '$av')})`].join('\n'),
      (r) => [
        `(local.set $gv (f32x4.splat (local.get $acc))) (local.set $zv (f32x4.splat (f32.load ${sAddr('$Z', r)}))) (local.set $av (f32x4.splat (f32.load ${sAddr('$Za', r)})))`,
        `(f32.store ${sAddr('$C', r)} (f32x4.extract_lane 0 ${derivative(kind, '$gv', '$zv', '$av')}))`].join('\n'),
      '', '', '');
    // a = f(z) elementwise over n floats, for layers whose z comes from batch norm
    emit(`(func (export "act_${kind}") (param $Z i32) (param $Ao i32) (param $n i32) (param $p0 f32) (param $p1 f32) (local $zv v128) (local $av v128) ${ACT_LOCALS}`);
    emit('(block $vd (loop $vl (br_if $vd (i32.lt_s (local.get $n) (i32.const 4)))');
    emit(`(local.set $zv (v128.load (local.get $Z))) ${activate(kind, '$av', '$zv')} (v128.store (local.get $Ao) (local.get $av))`);
    emit('(local.set $Z (i32.add (local.get $Z) (i32.const 16))) (local.set $Ao (i32.add (local.get $Ao) (i32.const 16))) (local.set $n (i32.sub (local.get $n) (i32.const 4))) (br $vl)))');
    emit('(block $sd (loop $sl (br_if $sd (i32.eqz (local.get $n)))');
    emit(`(local.set $zv (f32x4.splat (f32.load (local.get $Z)))) ${activate(kind, '$av', '$zv')} (f32.store (local.get $Ao) (f32x4.extract_lane 0 (local.get $av)))`);
    emit('(local.set $Z (i32.add (local.get $Z) (i32.const 4))) (local.set $Ao (i32.add (local.get $Ao) (i32.const 4))) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $sl)))');
    emit(')');
    // dz = g ⊙ f'(z) elementwise over n floats, for the output layer (its g comes from the loss)
    emit(`(func (export "actback_${kind}") (param $G i32) (param $Z i32) (param $Za i32) (param $C i32) (param $n i32) (param $p0 f32) (param $p1 f32) (local $zv v128) (local $av v128) (local $gv v128) ${ACT_LOCALS}`);
    emit('(block $vd (loop $vl (br_if $vd (i32.lt_s (local.get $n) (i32.const 4)))');
    emit('(local.set $gv (v128.load (local.get $G))) (local.set $zv (v128.load (local.get $Z))) (local.set $av (v128.load (local.get $Za)))');
    emit(`(v128.store (local.get $C) ${derivative(kind, '$gv', '$zv', '$av')})`);
    emit('(local.set $G (i32.add (local.get $G) (i32.const 16))) (local.set $Z (i32.add (local.get $Z) (i32.const 16))) (local.set $Za (i32.add (local.get $Za) (i32.const 16))) (local.set $C (i32.add (local.get $C) (i32.const 16)))');
    emit('(local.set $n (i32.sub (local.get $n) (i32.const 4))) (br $vl)))');
    emit('(block $sd (loop $sl (br_if $sd (i32.eqz (local.get $n)))');
    emit('(local.set $gv (f32x4.splat (f32.load (local.get $G)))) (local.set $zv (f32x4.splat (f32.load (local.get $Z)))) (local.set $av (f32x4.splat (f32.load (local.get $Za))))');
    emit(`(f32.store (local.get $C) (f32x4.extract_lane 0 ${derivative(kind, '$gv', '$zv', '$av')}))`);
    emit('(local.set $G (i32.add (local.get $G) (i32.const 4))) (local.set $Z (i32.add (local.get $Z) (i32.const 4))) (local.set $Za (i32.add (local.get $Za) (i32.const 4))) (local.set $C (i32.add (local.get $C) (i32.const 4)))');
    emit('(local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $sl)))');
    emit(')');
  }
  // The bias gradient db = Σₙ D[i, n] (rows of M × N) fused with its SGD step, as gemm_sgd does for
  // the weights: DB ← db, Vo ← v·μ + db, Bo ← b − v'·lr, stats ← [Σdb², max|db|, Σv'², Σb'²].
  // Lanes sum in f32 (≤ N/4 terms each), the four lanes and the tail in f64.
  emit('(func (export "bias_sgd") (param $D i32) (param $M i32) (param $N i32) (param $V i32) (param $B i32) (param $Vo i32) (param $Bo i32) (param $DB i32) (param $lr f32) (param $mu f32) (param $stats i32)');
  emit('(local $i i32) (local $n i32) (local $p i32) (local $acc v128) (local $t f64) (local $g f32) (local $v f32) (local $w f32) (local $sg f64) (local $sv f64) (local $sw f64) (local $mx f32)');
  emit('(local.set $p (local.get $D))');
  emit('(block $rd (loop $rl (br_if $rd (i32.ge_u (local.get $i) (local.get $M)))');
  emit('(local.set $acc (v128.const i32x4 0 0 0 0)) (local.set $n (local.get $N))');
  emit('(block $vd (loop $vl (br_if $vd (i32.lt_u (local.get $n) (i32.const 4)))');
  emit('(local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $p)))) (local.set $p (i32.add (local.get $p) (i32.const 16))) (local.set $n (i32.sub (local.get $n) (i32.const 4))) (br $vl)))');
  emit('(local.set $t (f64.add (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $acc)))) (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $acc))))))');
  emit('(block $sd (loop $sl (br_if $sd (i32.eqz (local.get $n)))');
  emit('(local.set $t (f64.add (local.get $t) (f64.promote_f32 (f32.load (local.get $p))))) (local.set $p (i32.add (local.get $p) (i32.const 4))) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $sl)))');
  emit('(local.set $g (f32.demote_f64 (local.get $t)))');
  const at = (base) => `(i32.add (local.get ${base}) (i32.shl (local.get $i) (i32.const 2)))`;
  emit(`(f32.store ${at('$DB')} (local.get $g))`);
  emit(`(local.set $v (f32.add (f32.mul (f32.load ${at('$V')}) (local.get $mu)) (local.get $g)))`);
  emit(`(local.set $w (f32.sub (f32.load ${at('$B')}) (f32.mul (local.get $v) (local.get $lr))))`);
  emit(`(f32.store ${at('$Vo')} (local.get $v)) (f32.store ${at('$Bo')} (local.get $w))`);
  emit('(local.set $sg (f64.add (local.get $sg) (f64.promote_f32 (f32.mul (local.get $g) (local.get $g)))))');
  emit('(local.set $sv (f64.add (local.get $sv) (f64.promote_f32 (f32.mul (local.get $v) (local.get $v)))))');
  emit('(local.set $sw (f64.add (local.get $sw) (f64.promote_f32 (f32.mul (local.get $w) (local.get $w)))))');
  // max|g|, NaN winning as in sgd.wat
  emit('(local.set $mx (if (result f32) (f32.ne (local.get $g) (local.get $g)) (then (local.get $g)) (else (f32.max (local.get $mx) (f32.abs (local.get $g))))))');
  emit('(local.set $i (i32.add (local.get $i) (i32.const 1))) (br $rl)))');
  emit('(f32.store (local.get $stats) (f32.demote_f64 (local.get $sg))) (f32.store offset=4 (local.get $stats) (local.get $mx))');
  emit('(f32.store offset=8 (local.get $stats) (f32.demote_f64 (local.get $sv))) (f32.store offset=12 (local.get $stats) (f32.demote_f64 (local.get $sw)))');
  emit(')');
  // attach/moments.ts on wasm: [Σg², max|g|, Σ(wb − wa)², Σwa²] over n floats, in one SIMD pass
  // (the JS loop ran at ~1.7 ms per study step, half the attached probes' cost). Lanes sum in f32
  // over chunks of 1024 elements (≤ 256 terms each), chunks and the tail in f64; max|g| ignores
  // NaN, as the host loop does (f32x4.pmax keeps the running max when |g| is NaN).
  const sumLanes = (v) => `(f64.add (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get ${v}))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get ${v})))) (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get ${v}))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get ${v})))))`;
  emit('(func (export "moments") (param $G i32) (param $WB i32) (param $WA i32) (param $n i32) (param $out i32)');
  emit('(local $i i32) (local $end i32) (local $cend i32) (local $o i32) (local $gg v128) (local $dd v128) (local $ww v128) (local $gm v128) (local $x v128) (local $a v128) (local $e v128)');
  emit('(local $sg f64) (local $sd f64) (local $sw f64) (local $m f32) (local $xs f32) (local $as f32) (local $es f32)');
  emit('(local.set $end (i32.and (local.get $n) (i32.const -4))) (local.set $gm (v128.const i32x4 0 0 0 0))');
  emit('(block $done (loop $chunk (br_if $done (i32.ge_u (local.get $i) (local.get $end)))');
  emit('(local.set $cend (i32.add (local.get $i) (i32.const 1024))) (if (i32.gt_u (local.get $cend) (local.get $end)) (then (local.set $cend (local.get $end))))');
  emit('(local.set $gg (v128.const i32x4 0 0 0 0)) (local.set $dd (v128.const i32x4 0 0 0 0)) (local.set $ww (v128.const i32x4 0 0 0 0))');
  emit('(block $cdone (loop $l (br_if $cdone (i32.ge_u (local.get $i) (local.get $cend)))');
  emit('(local.set $o (i32.shl (local.get $i) (i32.const 2)))');
  emit('(local.set $x (v128.load (i32.add (local.get $G) (local.get $o)))) (local.set $a (v128.load (i32.add (local.get $WA) (local.get $o))))');
  emit('(local.set $e (f32x4.sub (v128.load (i32.add (local.get $WB) (local.get $o))) (local.get $a)))');
  emit('(local.set $gg (f32x4.add (local.get $gg) (f32x4.mul (local.get $x) (local.get $x))))');
  emit('(local.set $dd (f32x4.add (local.get $dd) (f32x4.mul (local.get $e) (local.get $e))))');
  emit('(local.set $ww (f32x4.add (local.get $ww) (f32x4.mul (local.get $a) (local.get $a))))');
  emit('(local.set $gm (f32x4.pmax (local.get $gm) (f32x4.abs (local.get $x))))');
  emit('(local.set $i (i32.add (local.get $i) (i32.const 4))) (br $l)))');
  emit(`(local.set $sg (f64.add (local.get $sg) ${sumLanes('$gg')})) (local.set $sd (f64.add (local.get $sd) ${sumLanes('$dd')})) (local.set $sw (f64.add (local.get $sw) ${sumLanes('$ww')}))`);
  emit('(br $chunk)))');
  emit('(local.set $m (f32x4.extract_lane 0 (local.get $gm)))');
  for (const k of [1, 2, 3]) emit(`(if (f32.gt (f32x4.extract_lane ${k} (local.get $gm)) (local.get $m)) (then (local.set $m (f32x4.extract_lane ${k} (local.get $gm)))))`);
  emit('(block $td (loop $tl (br_if $td (i32.ge_u (local.get $i) (local.get $n)))');
  emit('(local.set $o (i32.shl (local.get $i) (i32.const 2)))');
  emit('(local.set $xs (f32.load (i32.add (local.get $G) (local.get $o)))) (local.set $as (f32.load (i32.add (local.get $WA) (local.get $o))))');
  emit('(local.set $es (f32.sub (f32.load (i32.add (local.get $WB) (local.get $o))) (local.get $as)))');
  emit('(local.set $sg (f64.add (local.get $sg) (f64.promote_f32 (f32.mul (local.get $xs) (local.get $xs)))))');
  emit('(local.set $sd (f64.add (local.get $sd) (f64.promote_f32 (f32.mul (local.get $es) (local.get $es)))))');
  emit('(local.set $sw (f64.add (local.get $sw) (f64.promote_f32 (f32.mul (local.get $as) (local.get $as)))))');
  emit('(if (f32.gt (f32.abs (local.get $xs)) (local.get $m)) (then (local.set $m (f32.abs (local.get $xs)))))');
  emit('(local.set $i (i32.add (local.get $i) (i32.const 1))) (br $tl)))');
  emit('(f32.store (local.get $out) (f32.demote_f64 (local.get $sg))) (f32.store offset=4 (local.get $out) (local.get $m))');
  emit('(f32.store offset=8 (local.get $out) (f32.demote_f64 (local.get $sd))) (f32.store offset=12 (local.get $out) (f32.demote_f64 (local.get $sw)))');
  emit(')');
  // The probes' statistics (host-kernels.ts → src/probes), each one SIMD pass over a tensor the
  // step has just written (still in cache), so a probe costs microseconds, not a JavaScript loop
  // with a data-dependent branch per entry (the mispredictions made those ~5 ns per entry).
  //
  // relu_counts: Z [U × N] row-major (units × batch); out, i32: active count (z > at) per unit
  // [U], then per sample −1 if some unit has ¬(z ≤ at) (active or NaN: the row is not dead) else 0
  // [N], then Σ(z ≤ at), then the units with z ≤ at for all N samples. NaN is neither off nor active.
  emit('(func (export "relu_counts") (param $Z i32) (param $U i32) (param $N i32) (param $at f32) (param $out i32)');
  emit('(local $u i32) (local $s i32) (local $p i32) (local $ro i32) (local $ra i32) (local $offs i32) (local $acts i32) (local $tot i32) (local $dead i32)');
  emit('(local $at4 v128) (local $v v128) (local $m v128) (local $offv v128) (local $actv v128) (local $x f32)');
  const lanes = (v) => `(i32.add (i32.add (i32x4.extract_lane 0 (local.get ${v})) (i32x4.extract_lane 1 (local.get ${v}))) (i32.add (i32x4.extract_lane 2 (local.get ${v})) (i32x4.extract_lane 3 (local.get ${v}))))`;
  emit('(local.set $at4 (f32x4.splat (local.get $at))) (local.set $ro (i32.add (local.get $out) (i32.shl (local.get $U) (i32.const 2)))) (local.set $p (local.get $Z))');
  emit('(memory.fill (local.get $ro) (i32.const 0) (i32.shl (local.get $N) (i32.const 2)))');
  emit('(block $ud (loop $ul (br_if $ud (i32.ge_u (local.get $u) (local.get $U)))');
  emit('(local.set $offv (v128.const i32x4 0 0 0 0)) (local.set $actv (v128.const i32x4 0 0 0 0)) (local.set $s (i32.const 0)) (local.set $ra (local.get $ro))');
  emit('(block $vd (loop $vl (br_if $vd (i32.gt_u (i32.add (local.get $s) (i32.const 4)) (local.get $N)))');
  emit('(local.set $v (v128.load align=4 (local.get $p))) (local.set $m (f32x4.le (local.get $v) (local.get $at4)))');
  // a true comparison lane is −1: subtracting it counts
  emit('(local.set $offv (i32x4.sub (local.get $offv) (local.get $m))) (local.set $actv (i32x4.sub (local.get $actv) (f32x4.gt (local.get $v) (local.get $at4))))');
  emit('(v128.store align=4 (local.get $ra) (v128.or (v128.load align=4 (local.get $ra)) (v128.not (local.get $m))))');
  emit('(local.set $p (i32.add (local.get $p) (i32.const 16))) (local.set $ra (i32.add (local.get $ra) (i32.const 16))) (local.set $s (i32.add (local.get $s) (i32.const 4))) (br $vl)))');
  emit(`(local.set $offs ${lanes('$offv')}) (local.set $acts ${lanes('$actv')})`);
  emit('(block $sd (loop $sl (br_if $sd (i32.ge_u (local.get $s) (local.get $N)))');
  emit('(local.set $x (f32.load (local.get $p)))');
  emit('(if (f32.le (local.get $x) (local.get $at)) (then (local.set $offs (i32.add (local.get $offs) (i32.const 1))))');
  emit('  (else (i32.store (local.get $ra) (i32.const -1)) (if (f32.gt (local.get $x) (local.get $at)) (then (local.set $acts (i32.add (local.get $acts) (i32.const 1)))))))');
  emit('(local.set $p (i32.add (local.get $p) (i32.const 4))) (local.set $ra (i32.add (local.get $ra) (i32.const 4))) (local.set $s (i32.add (local.get $s) (i32.const 1))) (br $sl)))');
  emit('(i32.store (i32.add (local.get $out) (i32.shl (local.get $u) (i32.const 2))) (local.get $acts))');
  emit('(local.set $tot (i32.add (local.get $tot) (local.get $offs)))');
  emit('(if (i32.eq (local.get $offs) (local.get $N)) (then (local.set $dead (i32.add (local.get $dead) (i32.const 1)))))');
  emit('(local.set $u (i32.add (local.get $u) (i32.const 1))) (br $ul)))');
  emit('(local.set $ra (i32.add (local.get $ro) (i32.shl (local.get $N) (i32.const 2))))');
  emit('(i32.store (local.get $ra) (local.get $tot)) (i32.store offset=4 (local.get $ra) (local.get $dead))');
  emit(')');
  // sat_KIND: over n entries of a (and z, for selu), out f64: [#(a < lo), #(a > hi), Σ f'(z)], f'
  // from a as the activation's spec writes it (sigmoid a(1 − a), tanh 1 − a², selu z > 0 ? λ :
  // a + λα; none: no derivative). Lanes sum in f32 over chunks of 1024 entries, chunks in f64.
  const SAT = {
    none: null,
    sigmoid: '(f32x4.mul (local.get $v) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $v)))',
    tanh: '(f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $v) (local.get $v)))',
    selu: '(v128.bitselect (f32x4.splat (local.get $p0)) (f32x4.add (local.get $v) (f32x4.splat (local.get $p1))) (f32x4.gt (v128.load align=4 (i32.add (local.get $Z) (local.get $o))) (v128.const i32x4 0 0 0 0)))',
  };
  const SAT_SCALAR = {
    sigmoid: '(f32.mul (local.get $x) (f32.sub (f32.const 1) (local.get $x)))',
    tanh: '(f32.sub (f32.const 1) (f32.mul (local.get $x) (local.get $x)))',
    selu: '(if (result f32) (f32.gt (f32.load (i32.add (local.get $Z) (local.get $o))) (f32.const 0)) (then (local.get $p0)) (else (f32.add (local.get $x) (local.get $p1))))',
  };
  const sumF = (v) => `(f64.add (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get ${v}))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get ${v})))) (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get ${v}))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get ${v})))))`;
  for (const [kind, df] of Object.entries(SAT)) {
    emit(`(func (export "sat_${kind}") (param $A i32) (param $Z i32) (param $n i32) (param $lo f32) (param $hi f32) (param $p0 f32) (param $p1 f32) (param $out i32)`);
    emit('(local $i i32) (local $o i32) (local $end i32) (local $cend i32) (local $lo4 v128) (local $hi4 v128) (local $v v128) (local $lowv v128) (local $highv v128) (local $dv v128) (local $x f32) (local $d f64) (local $low i32) (local $high i32)');
    emit('(local.set $lo4 (f32x4.splat (local.get $lo))) (local.set $hi4 (f32x4.splat (local.get $hi))) (local.set $end (i32.and (local.get $n) (i32.const -4)))');
    emit('(block $done (loop $chunk (br_if $done (i32.ge_u (local.get $i) (local.get $end)))');
    emit('(local.set $cend (i32.add (local.get $i) (i32.const 1024))) (if (i32.gt_u (local.get $cend) (local.get $end)) (then (local.set $cend (local.get $end))))');
    emit('(local.set $dv (v128.const i32x4 0 0 0 0))');
    emit('(block $cd (loop $l (br_if $cd (i32.ge_u (local.get $i) (local.get $cend)))');
    emit('(local.set $o (i32.shl (local.get $i) (i32.const 2))) (local.set $v (v128.load align=4 (i32.add (local.get $A) (local.get $o))))');
    emit('(local.set $lowv (i32x4.sub (local.get $lowv) (f32x4.lt (local.get $v) (local.get $lo4)))) (local.set $highv (i32x4.sub (local.get $highv) (f32x4.gt (local.get $v) (local.get $hi4))))');
    if (df) emit(`(local.set $dv (f32x4.add (local.get $dv) ${df}))`);
    emit('(local.set $i (i32.add (local.get $i) (i32.const 4))) (br $l)))');
    emit(`(local.set $d (f64.add (local.get $d) ${sumF('$dv')}))`);
    emit('(br $chunk)))');
    emit(`(local.set $low ${lanes('$lowv')}) (local.set $high ${lanes('$highv')})`);
    emit('(block $td (loop $tl (br_if $td (i32.ge_u (local.get $i) (local.get $n)))');
    emit('(local.set $o (i32.shl (local.get $i) (i32.const 2))) (local.set $x (f32.load (i32.add (local.get $A) (local.get $o))))');
    emit('(if (f32.lt (local.get $x) (local.get $lo)) (then (local.set $low (i32.add (local.get $low) (i32.const 1)))))');
    emit('(if (f32.gt (local.get $x) (local.get $hi)) (then (local.set $high (i32.add (local.get $high) (i32.const 1)))))');
    if (df) emit(`(local.set $d (f64.add (local.get $d) (f64.promote_f32 ${SAT_SCALAR[kind]})))`);
    emit('(local.set $i (i32.add (local.get $i) (i32.const 1))) (br $tl)))');
    emit('(f64.store (local.get $out) (f64.convert_i32_u (local.get $low))) (f64.store offset=8 (local.get $out) (f64.convert_i32_u (local.get $high))) (f64.store offset=16 (local.get $out) (local.get $d))');
    emit(')');
  }
  // sumsq_max: out f64 [Σx², max|x|] over n floats (max ignores NaN, as the probes' loops do)
  emit('(func (export "sumsq_max") (param $P i32) (param $n i32) (param $out i32)');
  emit('(local $i i32) (local $o i32) (local $end i32) (local $cend i32) (local $v v128) (local $sv v128) (local $mv v128) (local $s f64) (local $m f32) (local $x f32)');
  emit('(local.set $end (i32.and (local.get $n) (i32.const -4)))');
  emit('(block $done (loop $chunk (br_if $done (i32.ge_u (local.get $i) (local.get $end)))');
  emit('(local.set $cend (i32.add (local.get $i) (i32.const 1024))) (if (i32.gt_u (local.get $cend) (local.get $end)) (then (local.set $cend (local.get $end))))');
  emit('(local.set $sv (v128.const i32x4 0 0 0 0))');
  emit('(block $cd (loop $l (br_if $cd (i32.ge_u (local.get $i) (local.get $cend)))');
  emit('(local.set $v (v128.load align=4 (i32.add (local.get $P) (i32.shl (local.get $i) (i32.const 2)))))');
  emit('(local.set $sv (f32x4.add (local.get $sv) (f32x4.mul (local.get $v) (local.get $v)))) (local.set $mv (f32x4.pmax (local.get $mv) (f32x4.abs (local.get $v))))');
  emit('(local.set $i (i32.add (local.get $i) (i32.const 4))) (br $l)))');
  emit(`(local.set $s (f64.add (local.get $s) ${sumF('$sv')}))`);
  emit('(br $chunk)))');
  emit('(local.set $m (f32x4.extract_lane 0 (local.get $mv)))');
  for (const k of [1, 2, 3]) emit(`(if (f32.gt (f32x4.extract_lane ${k} (local.get $mv)) (local.get $m)) (then (local.set $m (f32x4.extract_lane ${k} (local.get $mv)))))`);
  emit('(block $td (loop $tl (br_if $td (i32.ge_u (local.get $i) (local.get $n)))');
  emit('(local.set $x (f32.load (i32.add (local.get $P) (i32.shl (local.get $i) (i32.const 2)))))');
  emit('(local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.mul (local.get $x) (local.get $x)))))');
  emit('(if (f32.gt (f32.abs (local.get $x)) (local.get $m)) (then (local.set $m (f32.abs (local.get $x)))))');
  emit('(local.set $i (i32.add (local.get $i) (i32.const 1))) (br $tl)))');
  emit('(f64.store (local.get $out) (local.get $s)) (f64.store offset=8 (local.get $out) (f64.promote_f32 (local.get $m)))');
  emit(')');
  // The machine's wasm peak, for the bench: 8 independent register-only multiply-adds per
  // iteration (64 flop), nothing loaded or stored.
  const accs = Array.from({ length: 8 }, (_, i) => `$p${i}`);
  emit(`(func (export "peak") (param $n i32) (result f32) (local $x v128) (local $y v128) ${accs.map((a) => `(local ${a} v128)`).join(' ')}`);
  emit('(local.set $x (f32x4.splat (f32.const 0.999))) (local.set $y (f32x4.splat (f32.const 0.001)))');
  emit(`(loop $l ${accs.map((a) => `(local.set ${a} ${madd(`(local.get ${a})`, L('x'), L('y'))})`).join(' ')}`);
  emit('(local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))');
  emit(`(f32x4.extract_lane 0 ${accs.slice(1).reduce((s, a) => `(f32x4.add ${s} (local.get ${a}))`, '(local.get $p0)')}))`);
  emit(')');
  return out.join('\n');
}
