// SGD with momentum fused into the passes that make the gradients: the weight gradient's product
// (its epilogue applies the step to each block of dW while it is in registers, so dW is never
// stored) and the bias gradient's row sums. Op by op like PyTorch: v' = v·μ + g, w' = w − v'·lr;
// each also accumulates the moments the gradients probe reads ([Σg², max|g|, Σv'², Σw'²]).

/**
 * The SGD step on one vector of 4 weights whose gradient is the local $g, at byte address `at(base)`
 * of V, W, Vo, Wo (Vo, Wo may be V, W: each element is read before it is written); with `moments`,
 * accumulates the moments in $sg, $sv, $sw, $mx. With `bg` (an f32x4 expression of the row's
 * background value), also adds bg·w' into the four floats at `at('$WBG')`: the weights' product
 * with the input's background (sparse.js), summed over rows as the rows are updated.
 *
 * The moments are half the pass's arithmetic: the steps no probe reads them on run the kernels made
 * without (`_nm`), which change nothing else (the same v', w', W·bg, bit for bit).
 */
export function sgdVector(at, bg, moments, madd) {
  // a sum of squares by the kernel set's multiply-add (`madd`): relaxed SIMD's fused one is one
  // instruction instead of two (the moments are half the pass's arithmetic) and rounds once; the
  // plain set's is mul + add, as the sums were written before
  const sq = (x, sum) => madd(`(local.get ${x})`, `(local.get ${x})`, `(local.get ${sum})`);
  return [
    `(local.set $nv (f32x4.add (f32x4.mul (v128.load ${at('$V')}) (local.get $mu4)) (local.get $g)))`,
    `(local.set $nw (f32x4.sub (v128.load ${at('$W')}) (f32x4.mul (local.get $nv) (local.get $lr4))))`,
    `(v128.store ${at('$Vo')} (local.get $nv)) (v128.store ${at('$Wo')} (local.get $nw))`,
    ...(moments ? [
      `(local.set $sg ${sq('$g', '$sg')})`,
      `(local.set $sv ${sq('$nv', '$sv')})`,
      `(local.set $sw ${sq('$nw', '$sw')})`,
      `(local.set $mx (f32x4.pmax (local.get $mx) (f32x4.abs (local.get $g))))`,
    ] : []),
    ...(bg ? [wbgVector(at, bg)] : []),
  ].join('\n');
}

/** The W·bg term of {@link sgdVector} alone: bg·w' (w' in $nw) added into the four floats at `at('$WBG')`. */
export function wbgVector(at, bg) {
  return `(v128.store ${at('$WBG')} (f32x4.add (v128.load ${at('$WBG')}) (f32x4.mul ${bg} (local.get $nw))))`;
}

/** {@link sgdVector} on one float: gradient $ga, moments in $sgs, $svs, $sws (f64) and $mxs; `bg` an f32 expression. */
export function sgdScalar(at, bg = null, moments = true) {
  return [
    `(local.set $va (f32.add (f32.mul (f32.load ${at('$V')}) (local.get $mu)) (local.get $ga)))`,
    `(local.set $wa (f32.sub (f32.load ${at('$W')}) (f32.mul (local.get $va) (local.get $lr))))`,
    `(f32.store ${at('$Vo')} (local.get $va)) (f32.store ${at('$Wo')} (local.get $wa))`,
    ...(moments ? [
      `(local.set $sgs (f64.add (local.get $sgs) (f64.promote_f32 (f32.mul (local.get $ga) (local.get $ga)))))`,
      `(local.set $svs (f64.add (local.get $svs) (f64.promote_f32 (f32.mul (local.get $va) (local.get $va)))))`,
      `(local.set $sws (f64.add (local.get $sws) (f64.promote_f32 (f32.mul (local.get $wa) (local.get $wa)))))`,
      `(local.set $mxs (f32.max (local.get $mxs) (f32.abs (local.get $ga))))`,
    ] : []),
    ...(bg ? [wbgScalar(at, bg)] : []),
  ].join('\n');
}

/** The W·bg term of {@link sgdScalar} alone: bg·w' (w' in $wa) added into the float at `at('$WBG')`. */
export function wbgScalar(at, bg) {
  return `(f32.store ${at('$WBG')} (f32.add (f32.load ${at('$WBG')}) (f32.mul ${bg} (local.get $wa))))`;
}

/** The locals {@link sgdVector}, {@link sgdScalar} and the folds use (besides $lr, $mu). */
export const SGD_LOCALS = '(local $g v128) (local $nv v128) (local $nw v128) (local $ga f32) (local $va f32) (local $wa f32) (local $sg v128) (local $sv v128) (local $sw v128) (local $mx v128) (local $sgs f64) (local $svs f64) (local $sws f64) (local $mxs f32) (local $lr4 v128) (local $mu4 v128)';

/** Sets $lr4, $mu4. */
export const SGD_PROLOGUE = '(local.set $lr4 (f32x4.splat (local.get $lr))) (local.set $mu4 (f32x4.splat (local.get $mu)))';

const fold = (x, y) => `(local.set ${y} (f64.add (local.get ${y}) (f64.add (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get ${x}))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get ${x})))) (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get ${x}))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get ${x}))))))) (local.set ${x} (v128.const i32x4 0 0 0 0))`;

/** Folds the f32 lanes of the sums into the f64 totals (after a group of rows: ~1e-6 relative). */
export const SGD_FOLD = [fold('$sg', '$sgs'), fold('$sv', '$svs'), fold('$sw', '$sws')].join('\n');

/** Stores NaN ×4 at $stats: what the kernels without moments (`_nm`) leave there, so no reader takes them for values. */
export const SGD_NO_MOMENTS = '(v128.store (local.get $stats) (v128.const f32x4 nan nan nan nan))';

/** Stores [Σg², max|g|, Σv'², Σw'²] at $stats (max|g| is NaN when Σg² is). */
export const SGD_FINALE = [
  `(local.set $mxs (f32.max (local.get $mxs) (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx))) (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx))))))`,
  '(if (f64.ne (local.get $sgs) (local.get $sgs)) (then (local.set $mxs (f32.demote_f64 (local.get $sgs)))))',
  '(f32.store (local.get $stats) (f32.demote_f64 (local.get $sgs)))',
  '(f32.store offset=4 (local.get $stats) (local.get $mxs))',
  '(f32.store offset=8 (local.get $stats) (f32.demote_f64 (local.get $svs)))',
  '(f32.store offset=12 (local.get $stats) (f32.demote_f64 (local.get $sws)))'].join('\n');

/**
 * dW = A·B fused with the weights' SGD step: V, W, Vo, Wo have C's shape; stats ← [Σg², max|g|,
 * Σv'², Σw'²] (f32 per block, f64 across). With $BG ≠ 0 (the input layer stored input-major, a row
 * per input feature: sparse.ts), also WBG[n] ← Σᵢ BG[i]·W'[i, n], rows in order.
 */
export function weightGradSgd(g, moments = true) {
  const { routine, cAddr, sAddr, madd } = g;
  const bgVec = (r) => `(v128.load32_splat (i32.add (local.get $BG) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 2))))`;
  const bgScalar = (r) => `(f32.load (i32.add (local.get $BG) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 2))))`;
  // WBG's address for column $n + 4v, in bytes
  const wbgAt = (v) => `(i32.add (local.get $WBG) (i32.add (i32.shl (local.get $n) (i32.const 2)) (i32.const ${16 * v})))`;
  return routine(moments ? 'gemm_sgd' : 'gemm_sgd_nm', '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $I i32) (param $S i32) (param $N i32) (param $V i32) (param $W i32) (param $Vo i32) (param $Wo i32) (param $lr f32) (param $mu f32) (param $stats i32) (param $BG i32) (param $WBG i32)',
    (r, v, acc) => `(local.set $g ${acc}) ${sgdVector((base) => cAddr(base, r, v), null, moments, madd)} (if (local.get $BG) (then ${wbgVector((base) => (base === '$WBG' ? wbgAt(v) : cAddr(base, r, v)), bgVec(r))}))`,
    (r) => `(local.set $ga (local.get $acc)) ${sgdScalar((base) => sAddr(base, r), null, moments)} (if (local.get $BG) (then ${wbgScalar((base) => (base === '$WBG' ? `(i32.add (local.get $WBG) (i32.shl (local.get $n) (i32.const 2)))` : sAddr(base, r)), bgScalar(r))}))`,
    `${SGD_PROLOGUE} (if (local.get $BG) (then (memory.fill (local.get $WBG) (i32.const 0) (i32.shl (local.get $N) (i32.const 2)))))`,
    moments ? SGD_FOLD : '',
    moments ? SGD_FINALE : SGD_NO_MOMENTS,
    // one panel: its B (the batch-major input, batch × fanIn) is small, the moments' f32 lane
    // groups stay whole rows, and WBG sums its rows in order
    1 << 30);
}

/** db with its SGD step (bias_sgd). */
export function biasSgd() {
  const out = [];
  const emit = (s) => out.push(s);
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
  return out.join('\n');
}
