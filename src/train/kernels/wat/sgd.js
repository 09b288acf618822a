// SGD with momentum fused into the passes that make the gradients: the weight gradient's product
// (its epilogue applies the step to each block of dW while it is in registers, so dW is never
// stored) and the bias gradient's row sums. Op by op like PyTorch: v' = v·μ + g, w' = w − v'·lr;
// each also accumulates the moments the gradients probe reads ([Σg², max|g|, Σv'², Σw'²]).

/** dW = A·B fused with the weights' SGD step: V, W, Vo, Wo have C's shape; stats ← [Σg², max|g|, Σv'², Σw'²] (f32 per block, f64 across). */
export function weightGradSgd(g) {
  const { routine, cAddr, sAddr } = g;
  const out = [];
  const emit = (s) => out.push(s);
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
  const sgdScalar = (r) => [
    `(local.set $ga (local.get $acc))`,
    `(local.set $va (f32.add (f32.mul (f32.load ${sAddr('$V', r)}) (local.get $mu)) (local.get $ga)))`,
    `(local.set $wa (f32.sub (f32.load ${sAddr('$W', r)}) (f32.mul (local.get $va) (local.get $lr))))`,
    `(f32.store ${sAddr('$Vo', r)} (local.get $va)) (f32.store ${sAddr('$Wo', r)} (local.get $wa))`,
    `(local.set $sgs (f64.add (local.get $sgs) (f64.promote_f32 (f32.mul (local.get $ga) (local.get $ga)))))`,
    `(local.set $svs (f64.add (local.get $svs) (f64.promote_f32 (f32.mul (local.get $va) (local.get $va)))))`,
    `(local.set $sws (f64.add (local.get $sws) (f64.promote_f32 (f32.mul (local.get $wa) (local.get $wa)))))`,
    `(local.set $mxs (f32.max (local.get $mxs) (f32.abs (local.get $ga))))`,
  ].join('\n');
  emit(routine('gemm_sgd', '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $I i32) (param $S i32) (param $N i32) (param $V i32) (param $W i32) (param $Vo i32) (param $Wo i32) (param $lr f32) (param $mu f32) (param $stats i32)',
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
    1 << 30));
  return out.join('\n');
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
