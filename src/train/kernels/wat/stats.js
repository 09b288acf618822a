// The probes' statistics (host.ts's WasmStats, for src/probes), each one SIMD pass over a tensor
// the step has just written (still in cache), so a probe costs microseconds, not a JavaScript loop
// with a data-dependent branch per entry (the mispredictions made those ~5 ns per entry).

/** relu_counts, sat_KIND, sumsq_max */
export function probeStats() {
  const out = [];
  const emit = (s) => out.push(s);
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
  return out.join('\n');
}
