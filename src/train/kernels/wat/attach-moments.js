// attach/moments.ts on wasm: [Σg², max|g|, Σ(wb − wa)², Σwa²] over n floats, in one SIMD pass
// (the JS loop ran at ~1.7 ms per study step, half the attached probes' cost). Lanes sum in f32
// over chunks of 1024 elements (≤ 256 terms each), chunks and the tail in f64; max|g| ignores
// NaN, as the host loop does (f32x4.pmax keeps the running max when |g| is NaN).

/** moments(G, WB, WA, n, out) */
export function moments() {
  const out = [];
  const emit = (s) => out.push(s);
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
  return out.join('\n');
}
