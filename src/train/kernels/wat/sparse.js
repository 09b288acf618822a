// The input layer over a sparse input (sparse.ts). An input x = bg + d, with bg the dataset's
// background (the value of a zero pixel, per feature) and d zero wherever the pixel is: then
//   W·x = W·d + W·bg   and   dW = dz·xᵀ = dz·dᵀ + (dz·1)·bgᵀ,
// so both products run over the nonzeros of d only, plus a rank-one term: W·bg (WBG, kept by the
// weights' update, sgd.js) and the bias gradient db = dz·1 times bg.
//
// The layer's weights are stored input-major in column blocks of BLOCK = 16 units: block c holds
// units 16c … 16c + w − 1 (w = 16, or M mod 16 for the last) as K rows of w floats, W[f, j] at
// float 16c·K + f·w + (j − 16c) (sparse.ts: toInputLayout). A nonzero of d reads one 64-byte row
// of a block, and a block's rows lie together (50 KB at K = 784): the forward over a batch of 32
// took 232 µs against 300 with plain input-major rows, whose 16-unit pieces lie 2 KB apart and
// mostly straddle two cache lines (kernel alone, MNIST batches, M = 500, alternated rounds, quiet);
// blocks of 32 units took 327. The update runs block by block too (as fast as by rows: 358 / 352 µs).
//   sparse_KIND  z[j, n] = WBG[j] + Σ_{f: d[f,n] ≠ 0} d[f, n]·W[f, j] + b[j],  a = f(z)
//                over the nonzeros of each sample (RP, RI, RV: by sample, features ascending);
//                z and a written feature-major [M × N], a also batch-major [N × M] (T, when ≠ 0)
//   sparse_sgd   dW[f, j] = bg[f]·db[j] + Σ_{n: d[f,n] ≠ 0} d[f, n]·dzᵀ[n, j], fused with SGD
//                (sgd.js: each row is updated as it is made, dW is never stored) and WBG ← W'·bg;
//                over the nonzeros of each feature (CP, CI, CV: by feature, samples ascending),
//                dz batch-major [N × M]
// Units go in chunks of NV vectors (4·NV units): the chunk's accumulators stay in registers while
// the nonzeros stream by; leftover units in narrower chunks, then one at a time.

import { ACT_LOCALS, FUSED_ACTIVATIONS, activate } from './activation-math.js';
import { SGD_FINALE, SGD_FOLD, SGD_LOCALS, SGD_NO_MOMENTS, SGD_PROLOGUE, sgdScalar, sgdVector } from './sgd.js';

// Vectors per chunk, measured on plain input-major rows (best of 40 interleaved rounds, MNIST
// batches, under load): forward 4 (16 units) 243 µs, 2: 278, 8: 298, 8 with two accumulator sets
// for alternate nonzeros 413, 4 with two sets 322, two samples' nonzeros in lockstep slower too;
// update 4. A chunk of the widest width is one column block.
const NV_FWD = 4, NV_SGD = 4;
/** Units per column block of the stored weights (sparse.ts's INPUT_BLOCK): the widest chunk. */
export const BLOCK = 16;

const get = (n) => `(local.get ${n})`;
const i32 = (c) => `(i32.const ${c})`;
const add = (a, b) => `(i32.add ${a} ${b})`;

/** Chunk widths, widest first: NV, NV/2, …, 1 vectors. */
const widths = (nv) => { const w = []; for (let v = nv; v >= 1; v = v >> 1) w.push(v); return w; };

/** @param {{ madd: (a: string, b: string, c: string) => string, relaxed: boolean }} g */
export function sparseKernels(g, { nvFwd = NV_FWD, nvSgd = NV_SGD } = {}) {
  if (4 * nvFwd !== BLOCK || 4 * nvSgd !== BLOCK) throw new Error(`the widest chunk must be one column block (${BLOCK} units)`);
  const { madd } = g;
  // $Wj (byte address of unit $j's column in row 0) and $S (bytes from one row to the next) of the
  // chunk at $j: a whole block for the widest chunks, else in the last block (M mod 16 units)
  const fullBlock = (W) => `(local.set $Wj (i32.add ${W} (i32.mul ${get('$j')} ${get('$K4')}))) (local.set $S ${i32(4 * BLOCK)})`;
  const lastBlock = (W) => `(local.set $Wj (i32.add ${W} (i32.add (i32.mul ${get('$Mf')} ${get('$K4')}) (i32.shl (i32.sub ${get('$j')} ${get('$Mf')}) ${i32(2)})))) (local.set $S (i32.shl (i32.sub ${get('$M')} ${get('$Mf')}) ${i32(2)}))`;
  const blockLocals = '(local $K4 i32) (local $Mf i32) (local $S i32)';
  const blockPrologue = `(local.set $K4 (i32.shl ${get('$K')} ${i32(2)})) (local.set $Mf (i32.and ${get('$M')} ${i32(-BLOCK)}))`;
  const accs = (nv) => Array.from({ length: nv }, (_, v) => `(local $c${v} v128)`).join(' ');
  // scalar multiply-add of the same rounding as the vector one (relaxed: fused)
  const maddS = (a, b, c) => `(f32x4.extract_lane 0 ${madd(`(f32x4.splat ${a})`, `(f32x4.splat ${b})`, `(f32x4.splat ${c})`)})`;
  const out = [];
  const emit = (s) => out.push(s);

  for (const kind of FUSED_ACTIVATIONS) {
    emit(`(func (export "sparse_${kind}") (param $W i32) (param $M i32) (param $K i32) (param $RP i32) (param $RI i32) (param $RV i32) (param $N i32) (param $WBG i32) (param $b i32) (param $Z i32) (param $A i32) (param $T i32) (param $p0 f32) (param $p1 f32)`);
    emit(`(local $j i32) (local $n i32) (local $k i32) (local $kend i32) (local $M4 i32) (local $N4 i32) (local $Wj i32) (local $p i32) (local $q i32) (local $d v128) (local $zv v128) (local $av v128) (local $zs f32) ${blockLocals} ${accs(nvFwd)} ${ACT_LOCALS}`);
    emit(`(local.set $M4 (i32.shl ${get('$M')} ${i32(2)})) (local.set $N4 (i32.shl ${get('$N')} ${i32(2)})) ${blockPrologue}`);
    // the lanes of a vector of units j..j+3 of sample n to Z and A, feature-major: stride N floats
    const lanesOut = (base, v, val) => [0, 1, 2, 3].map((l) => `(f32.store (i32.add ${get('$q')} ${i32(0)}) (f32x4.extract_lane ${l} ${get(val)})) (local.set $q (i32.add ${get('$q')} ${get('$N4')}))`).join(' ');
    for (const V of widths(nvFwd)) {
      emit(`(block $jd${V} (loop $jl${V} (br_if $jd${V} (i32.gt_u ${add(get('$j'), i32(4 * V))} ${get('$M')}))`);
      emit(`${V === nvFwd ? fullBlock(get('$W')) : lastBlock(get('$W'))} (local.set $n ${i32(0)})`);
      emit(`(block $nd${V} (loop $nl${V} (br_if $nd${V} (i32.ge_u ${get('$n')} ${get('$N')}))`);
      // the background's share, then the nonzeros
      for (let v = 0; v < V; v++) emit(`(local.set $c${v} (v128.load offset=${16 * v} (i32.add ${get('$WBG')} (i32.shl ${get('$j')} ${i32(2)}))))`);
      emit(`(local.set $k (i32.load (i32.add ${get('$RP')} (i32.shl ${get('$n')} ${i32(2)})))) (local.set $kend (i32.load offset=4 (i32.add ${get('$RP')} (i32.shl ${get('$n')} ${i32(2)}))))`);
      emit(`(block $kd${V} (loop $kl${V} (br_if $kd${V} (i32.ge_u ${get('$k')} ${get('$kend')}))`);
      emit(`(local.set $p (i32.add ${get('$Wj')} (i32.mul (i32.load (i32.add ${get('$RI')} (i32.shl ${get('$k')} ${i32(2)}))) ${get('$S')})))`);
      emit(`(local.set $d (v128.load32_splat (i32.add ${get('$RV')} (i32.shl ${get('$k')} ${i32(2)}))))`);
      for (let v = 0; v < V; v++) emit(`(local.set $c${v} ${madd(get('$d'), `(v128.load offset=${16 * v} ${get('$p')})`, get(`$c${v}`))})`);
      emit(`(local.set $k (i32.add ${get('$k')} ${i32(1)})) (br $kl${V})))`);
      // epilogue: + b, z and a = f(z) out; a also batch-major
      emit(`(local.set $q (i32.add ${get('$Z')} (i32.add (i32.mul ${get('$j')} ${get('$N4')}) (i32.shl ${get('$n')} ${i32(2)}))))`);
      for (let v = 0; v < V; v++) {
        emit(`(local.set $zv (f32x4.add ${get(`$c${v}`)} (v128.load offset=${16 * v} (i32.add ${get('$b')} (i32.shl ${get('$j')} ${i32(2)})))))`);
        emit(`(local.set $c${v} ${get('$zv')})`);
        emit(lanesOut('$Z', v, '$zv'));
      }
      emit(`(local.set $q (i32.add ${get('$A')} (i32.add (i32.mul ${get('$j')} ${get('$N4')}) (i32.shl ${get('$n')} ${i32(2)}))))`);
      for (let v = 0; v < V; v++) {
        emit(`(local.set $zv ${get(`$c${v}`)})`);
        emit(activate(kind, '$av', '$zv'));
        emit(lanesOut('$A', v, '$av'));
        emit(`(if ${get('$T')} (then (v128.store offset=${16 * v} (i32.add ${get('$T')} (i32.add (i32.mul ${get('$n')} ${get('$M4')}) (i32.shl ${get('$j')} ${i32(2)}))) ${get('$av')})))`);
      }
      emit(`(local.set $n (i32.add ${get('$n')} ${i32(1)})) (br $nl${V})))`);
      emit(`(local.set $j (i32.add ${get('$j')} ${i32(4 * V)})) (br $jl${V})))`);
    }
    // the last M mod 4 units, one at a time
    emit(`(block $td (loop $tl (br_if $td (i32.ge_u ${get('$j')} ${get('$M')}))`);
    emit(`${lastBlock(get('$W'))} (local.set $n ${i32(0)})`);
    emit(`(block $nd (loop $nl (br_if $nd (i32.ge_u ${get('$n')} ${get('$N')}))`);
    emit(`(local.set $zs (f32.load (i32.add ${get('$WBG')} (i32.shl ${get('$j')} ${i32(2)}))))`);
    emit(`(local.set $k (i32.load (i32.add ${get('$RP')} (i32.shl ${get('$n')} ${i32(2)})))) (local.set $kend (i32.load offset=4 (i32.add ${get('$RP')} (i32.shl ${get('$n')} ${i32(2)}))))`);
    emit(`(block $kd (loop $kl (br_if $kd (i32.ge_u ${get('$k')} ${get('$kend')}))`);
    emit(`(local.set $zs ${maddS(`(f32.load (i32.add ${get('$RV')} (i32.shl ${get('$k')} ${i32(2)})))`, `(f32.load (i32.add ${get('$Wj')} (i32.mul (i32.load (i32.add ${get('$RI')} (i32.shl ${get('$k')} ${i32(2)}))) ${get('$S')})))`, get('$zs'))})`);
    emit(`(local.set $k (i32.add ${get('$k')} ${i32(1)})) (br $kl)))`);
    emit(`(local.set $zv (f32x4.splat (f32.add ${get('$zs')} (f32.load (i32.add ${get('$b')} (i32.shl ${get('$j')} ${i32(2)}))))))`);
    emit(activate(kind, '$av', '$zv'));
    emit(`(local.set $p (i32.add (i32.mul ${get('$j')} ${get('$N4')}) (i32.shl ${get('$n')} ${i32(2)})))`);
    emit(`(f32.store (i32.add ${get('$Z')} ${get('$p')}) (f32x4.extract_lane 0 ${get('$zv')})) (f32.store (i32.add ${get('$A')} ${get('$p')}) (f32x4.extract_lane 0 ${get('$av')}))`);
    emit(`(if ${get('$T')} (then (f32.store (i32.add ${get('$T')} (i32.add (i32.mul ${get('$n')} ${get('$M4')}) (i32.shl ${get('$j')} ${i32(2)}))) (f32x4.extract_lane 0 ${get('$av')}))))`);
    emit(`(local.set $n (i32.add ${get('$n')} ${i32(1)})) (br $nl)))`);
    emit(`(local.set $j (i32.add ${get('$j')} ${i32(1)})) (br $tl)))`);
    emit(')');
  }

  // sparse_sgd: a chunk of units at a time (a column block of the stored weights, in memory
  // order), its rows f in order; sparse_sgd_nm the same without the moments
  for (const withMoments of [true, false]) {
    emit(`(func (export "sparse_sgd${withMoments ? '' : '_nm'}") (param $DT i32) (param $M i32) (param $CP i32) (param $CI i32) (param $CV i32) (param $K i32) (param $BG i32) (param $DB i32) (param $V i32) (param $W i32) (param $Vo i32) (param $Wo i32) (param $lr f32) (param $mu f32) (param $WBG i32) (param $stats i32)`);
    emit(`(local $f i32) (local $j i32) (local $k i32) (local $k0 i32) (local $kend i32) (local $M4 i32) (local $row i32) (local $p i32) (local $d v128) (local $bg v128) (local $bgs f32) (local $Wj i32) ${blockLocals} ${accs(nvSgd)} ${Array.from({ length: nvSgd }, (_, v) => `(local $db${v} v128)`).join(' ')} ${SGD_LOCALS}`);
    emit(`${SGD_PROLOGUE} (local.set $M4 (i32.shl ${get('$M')} ${i32(2)})) ${blockPrologue}`);
    emit(`(memory.fill ${get('$WBG')} ${i32(0)} ${get('$M4')}) (local.set $j ${i32(0)})`);
    // byte address of the vector v of the chunk at unit $j in row $f of base: for V, W, Vo, Wo the
    // offset of that row of the chunk in the stored weights ($row); for WBG and DB, unit $j's
    const at = (v) => (base) => (base === '$WBG' || base === '$DB'
      ? `(i32.add ${get(base)} (i32.add (i32.shl ${get('$j')} ${i32(2)}) ${i32(16 * v)}))`
      : `(i32.add ${get(base)} (i32.add ${get('$row')} ${i32(16 * v)}))`);
    // the rows of the chunk at $j: $row from its first (byte offset $Wj), $S bytes apart; per row its
    // background value and its nonzeros (k0 … kend in the by-feature lists)
    const rowsBegin = (V, label) => [
      `${V === nvSgd ? fullBlock(i32(0)) : lastBlock(i32(0))} (local.set $row ${get('$Wj')}) (local.set $f ${i32(0)})`,
      `(block $fd${label} (loop $fl${label} (br_if $fd${label} (i32.ge_u ${get('$f')} ${get('$K')}))`,
      `(local.set $bgs (f32.load (i32.add ${get('$BG')} (i32.shl ${get('$f')} ${i32(2)})))) (local.set $bg (f32x4.splat ${get('$bgs')}))`,
      `(local.set $k0 (i32.load (i32.add ${get('$CP')} (i32.shl ${get('$f')} ${i32(2)})))) (local.set $kend (i32.load offset=4 (i32.add ${get('$CP')} (i32.shl ${get('$f')} ${i32(2)}))))`,
    ].join('\n');
    const rowsEnd = (label) => `(local.set $row (i32.add ${get('$row')} ${get('$S')})) (local.set $f (i32.add ${get('$f')} ${i32(1)})) (br $fl${label})))`;
    for (const V of widths(nvSgd)) {
      emit(`(block $jd${V} (loop $jl${V} (br_if $jd${V} (i32.gt_u ${add(get('$j'), i32(4 * V))} ${get('$M')}))`);
      // the chunk's db, in registers for all its rows
      for (let v = 0; v < V; v++) emit(`(local.set $db${v} (v128.load ${at(v)('$DB')}))`);
      emit(rowsBegin(V, V));
      for (let v = 0; v < V; v++) emit(`(local.set $c${v} (f32x4.mul ${get('$bg')} ${get(`$db${v}`)}))`);
      emit(`(local.set $k ${get('$k0')})`);
      emit(`(block $kd${V} (loop $kl${V} (br_if $kd${V} (i32.ge_u ${get('$k')} ${get('$kend')}))`);
      emit(`(local.set $p (i32.add ${get('$DT')} (i32.add (i32.mul (i32.load (i32.add ${get('$CI')} (i32.shl ${get('$k')} ${i32(2)}))) ${get('$M4')}) (i32.shl ${get('$j')} ${i32(2)}))))`);
      emit(`(local.set $d (v128.load32_splat (i32.add ${get('$CV')} (i32.shl ${get('$k')} ${i32(2)}))))`);
      for (let v = 0; v < V; v++) emit(`(local.set $c${v} ${madd(get('$d'), `(v128.load offset=${16 * v} ${get('$p')})`, get(`$c${v}`))})`);
      emit(`(local.set $k (i32.add ${get('$k')} ${i32(1)})) (br $kl${V})))`);
      for (let v = 0; v < V; v++) emit(`(local.set $g ${get(`$c${v}`)}) ${sgdVector(at(v), get('$bg'), withMoments, madd)}`);
      // the moments' f32 lanes into the f64 totals every 32 rows (≤ 128 terms a lane, as a row of
      // 500 units was before: ~1e-6 relative)
      if (withMoments) emit(`(if (i32.eq (i32.and ${get('$f')} ${i32(31)}) ${i32(31)}) (then ${SGD_FOLD}))`);
      emit(rowsEnd(V));
      if (withMoments) emit(SGD_FOLD);
      emit(`(local.set $j (i32.add ${get('$j')} ${i32(4 * V)})) (br $jl${V})))`);
    }
    // the last M mod 4 units, one at a time
    emit(`(block $td (loop $tl (br_if $td (i32.ge_u ${get('$j')} ${get('$M')}))`);
    emit(rowsBegin(0, 's'));
    emit(`(local.set $ga (f32.mul ${get('$bgs')} (f32.load ${at(0)('$DB')}))) (local.set $k ${get('$k0')})`);
    emit(`(block $kd (loop $kl (br_if $kd (i32.ge_u ${get('$k')} ${get('$kend')}))`);
    emit(`(local.set $ga ${maddS(`(f32.load (i32.add ${get('$CV')} (i32.shl ${get('$k')} ${i32(2)})))`, `(f32.load (i32.add ${get('$DT')} (i32.add (i32.mul (i32.load (i32.add ${get('$CI')} (i32.shl ${get('$k')} ${i32(2)}))) ${get('$M4')}) (i32.shl ${get('$j')} ${i32(2)}))))`, get('$ga'))})`);
    emit(`(local.set $k (i32.add ${get('$k')} ${i32(1)})) (br $kl)))`);
    emit(sgdScalar(at(0), get('$bgs'), withMoments));
    emit(rowsEnd('s'));
    emit(`(local.set $j (i32.add ${get('$j')} ${i32(1)})) (br $tl)))`);
    emit(withMoments ? SGD_FINALE : SGD_NO_MOMENTS);
    emit(')');
  }
  // sparse_by_feature: a batch's nonzeros listed by sample (IDX: N + 1 starts, then nnz features;
  // VAL: nnz values) also listed by feature (batch.ts): K + 1 starts at CP = IDX + 4(N + 1 + nnz),
  // the samples at CI = CP + 4(K + 1), the values at VAL + 4·nnz, samples ascending within a
  // feature. A counting sort: the counts go to CP[f + 1] and are summed into starts, the scatter
  // advances CP[f] to the end of feature f (the start of f + 1), then CP moves up one place.
  emit('(func (export "sparse_by_feature") (param $IDX i32) (param $VAL i32) (param $N i32) (param $nnz i32) (param $K i32)');
  emit('(local $RI i32) (local $CP i32) (local $CI i32) (local $q i32) (local $end i32) (local $s i32) (local $f i32) (local $p i32) (local $at i32) (local $sum i32) (local $c i32)');
  emit('(local.set $RI (i32.add (local.get $IDX) (i32.shl (i32.add (local.get $N) (i32.const 1)) (i32.const 2))))');
  emit('(local.set $CP (i32.add (local.get $RI) (i32.shl (local.get $nnz) (i32.const 2))))');
  emit('(local.set $CI (i32.add (local.get $CP) (i32.shl (i32.add (local.get $K) (i32.const 1)) (i32.const 2))))');
  emit('(memory.fill (local.get $CP) (i32.const 0) (i32.shl (i32.add (local.get $K) (i32.const 1)) (i32.const 2)))');
  // counts of feature f at CP[f + 1]
  emit('(block $cd (loop $cl (br_if $cd (i32.ge_u (local.get $q) (local.get $nnz)))');
  emit('(local.set $p (i32.add (local.get $CP) (i32.shl (i32.add (i32.load (i32.add (local.get $RI) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 1)) (i32.const 2))))');
  emit('(i32.store (local.get $p) (i32.add (i32.load (local.get $p)) (i32.const 1)))');
  emit('(local.set $q (i32.add (local.get $q) (i32.const 1))) (br $cl)))');
  // starts: CP[f] = Σ counts of features < f
  emit('(local.set $f (i32.const 1))');
  emit('(block $pd (loop $pl (br_if $pd (i32.gt_u (local.get $f) (local.get $K)))');
  emit('(local.set $p (i32.add (local.get $CP) (i32.shl (local.get $f) (i32.const 2))))');
  emit('(local.set $sum (i32.add (local.get $sum) (i32.load (local.get $p)))) (i32.store (local.get $p) (local.get $sum))');
  emit('(local.set $f (i32.add (local.get $f) (i32.const 1))) (br $pl)))');
  // the scatter, samples in order: CP[f] is feature f's next free place
  emit('(local.set $q (i32.const 0))');
  emit('(block $sd (loop $sl (br_if $sd (i32.ge_u (local.get $s) (local.get $N)))');
  emit('(local.set $end (i32.load offset=4 (i32.add (local.get $IDX) (i32.shl (local.get $s) (i32.const 2)))))');
  emit('(block $qd (loop $ql (br_if $qd (i32.ge_u (local.get $q) (local.get $end)))');
  emit('(local.set $p (i32.add (local.get $CP) (i32.shl (i32.load (i32.add (local.get $RI) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 2))))');
  emit('(local.set $at (i32.load (local.get $p))) (i32.store (local.get $p) (i32.add (local.get $at) (i32.const 1)))');
  emit('(i32.store (i32.add (local.get $CI) (i32.shl (local.get $at) (i32.const 2))) (local.get $s))');
  emit('(f32.store (i32.add (local.get $VAL) (i32.shl (i32.add (local.get $nnz) (local.get $at)) (i32.const 2))) (f32.load (i32.add (local.get $VAL) (i32.shl (local.get $q) (i32.const 2)))))');
  emit('(local.set $q (i32.add (local.get $q) (i32.const 1))) (br $ql)))');
  emit('(local.set $s (i32.add (local.get $s) (i32.const 1))) (br $sl)))');
  // each CP[f] now ends feature f: move them up one place, CP[0] = 0
  emit('(local.set $f (local.get $K))');
  emit('(block $md (loop $ml (br_if $md (i32.eqz (local.get $f)))');
  emit('(local.set $p (i32.add (local.get $CP) (i32.shl (local.get $f) (i32.const 2))))');
  emit('(i32.store (local.get $p) (i32.load offset=0 (i32.sub (local.get $p) (i32.const 4))))');
  emit('(local.set $f (i32.sub (local.get $f) (i32.const 1))) (br $ml)))');
  emit('(i32.store (local.get $CP) (i32.const 0))');
  emit(')');
  return out.join('\n');
}
