// The machine's wasm peak, for the bench (bench/products.ts).

/** peak(n): n iterations of 8 independent register-only multiply-adds on f32x4 (64 flop each), nothing loaded or stored. */
export function peak(g) {
  const { madd } = g;
  const L = (n) => `(local.get $${n})`;
  const out = [];
  const emit = (s) => out.push(s);
  const accs = Array.from({ length: 8 }, (_, i) => `$p${i}`);
  emit(`(func (export "peak") (param $n i32) (result f32) (local $x v128) (local $y v128) ${accs.map((a) => `(local ${a} v128)`).join(' ')}`);
  emit('(local.set $x (f32x4.splat (f32.const 0.999))) (local.set $y (f32x4.splat (f32.const 0.001)))');
  emit(`(loop $l ${accs.map((a) => `(local.set ${a} ${madd(`(local.get ${a})`, L('x'), L('y'))})`).join(' ')}`);
  emit('(local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))');
  emit(`(f32x4.extract_lane 0 ${accs.slice(1).reduce((s, a) => `(f32x4.add ${s} (local.get ${a}))`, '(local.get $p0)')}))`);
  return out.join('\n');
}
