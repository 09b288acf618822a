// The activations fused into the products' passes (fused.ts), one export of each kernel per
// activation (activation-math.js writes f and f' on f32x4 vectors).

import { ACT_LOCALS, FUSED_ACTIVATIONS, activate, derivative } from './activation-math.js';

/** gemm_KIND (forward with f in the epilogue), back_KIND (backward with f' in it), act_KIND, actback_KIND. */
export function activationKernels(g) {
  const { routine, cAddr, sAddr } = g;
  const out = [];
  const emit = (s) => out.push(s);
  // The forward product with its activation in the epilogue, one export per activation:
  // C = z = A·B + bias, Ao = f(z); both outputs written in the same pass.
  for (const kind of FUSED_ACTIVATIONS) {
    // when $T ≠ 0 it also writes a transposed ([N × I], batch-major: the next layer's weight
    // gradient reads it), four scalar stores per vector instead of a separate transpose
    const tAddr = (r, col) => `(i32.add (local.get $T) (i32.shl (i32.add (i32.mul ${col} (local.get $I)) (i32.add (local.get $i) (i32.const ${r}))) (i32.const 2)))`;
    emit(routine(`gemm_${kind}`, '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $C i32) (param $Ao i32) (param $T i32) (param $I i32) (param $S i32) (param $N i32) (param $b i32) (param $p0 f32) (param $p1 f32)',
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
      '', '', ''));
    // the backward product to the layer below with that layer's activation derivative in the
    // epilogue: C = dz = (A·B) ⊙ f'(z), z and a = f(z) read from Z and Za (C's shape); g is never
    // stored. When $T ≠ 0 dz is also written transposed (batch-major: an input-major layer's
    // update reads it, sparse.js), as gemm_KIND writes a.
    emit(routine(`back_${kind}`, '(param $A i32) (param $ai i32) (param $as i32) (param $B i32) (param $C i32) (param $Z i32) (param $Za i32) (param $T i32) (param $I i32) (param $S i32) (param $N i32) (param $p0 f32) (param $p1 f32)',
      (r, v, acc) => [
        `(local.set $gv ${acc}) (local.set $zv (v128.load ${cAddr('$Z', r, v)})) (local.set $av (v128.load ${cAddr('$Za', r, v)}))`,
        `(local.set $gv ${derivative(kind, '$gv', '$zv', '$av')}) (v128.store ${cAddr('$C', r, v)} (local.get $gv))`,
        `(if (local.get $T) (then ${[0, 1, 2, 3].map((j) => `(f32.store ${tAddr(r, `(i32.add (local.get $n) (i32.const ${4 * v + j}))`)} (f32x4.extract_lane ${j} (local.get $gv)))`).join(' ')}))`].join('\n'),
      (r) => [
        `(local.set $gv (f32x4.splat (local.get $acc))) (local.set $zv (f32x4.splat (f32.load ${sAddr('$Z', r)}))) (local.set $av (f32x4.splat (f32.load ${sAddr('$Za', r)})))`,
        `(local.set $gv ${derivative(kind, '$gv', '$zv', '$av')}) (f32.store ${sAddr('$C', r)} (f32x4.extract_lane 0 (local.get $gv)))`,
        `(if (local.get $T) (then (f32.store ${tAddr(r, '(local.get $n)')} (f32x4.extract_lane 0 (local.get $gv)))))`].join('\n'),
      '', '', ''));
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
  return out.join('\n');
}
