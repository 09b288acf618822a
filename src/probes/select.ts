/**
 * Quantiles of a float32 array by selection instead of a full sort: the few order statistics the
 * quantiles need, found in one recursive partition over the sorted list of their ranks, each
 * subrange partitioned once. For the distribution probe's 14 ranks of 16,000 entries this is a few
 * passes over the data instead of an n·log n sort, and it returns the very values the sort gives.
 *
 * Same values as `Float32Array.from(x).sort()` followed by linear interpolation at rank (n − 1)·p,
 * including the order a typed-array sort defines beyond `<`: NaN sorts last, so a quantile whose
 * ranks land among the NaNs is NaN; −0 sorts before +0, which cannot show in a quantile (below).
 */

/** Below this size a subrange is sorted by insertion: cheaper than partitioning it further. */
const SMALL = 16;
/** Rounds on one path that split off less than 1/8 of their range before the path gives up on
 * partitioning and sorts its subrange: keeps the worst case near n·log n (deterministic pivots
 * have inputs that defeat them), while ordinary inputs never get there. */
const MAX_UNBALANCED = 4;

/** Reused across calls: the probe runs on the same layer sizes every time, so no allocation per call. */
let scratch = new Float32Array(0);

/**
 * Quantiles `fractions` (p ∈ [0, 1]) of `x`, interpolated linearly between the two nearest ranks
 * (position (n − 1)·p; numpy's default, R's type 7), exactly as interpolating in the ascending
 * typed-array sort of `x` would. `x` is left untouched.
 */
export function quantilesBySelection(x: ArrayLike<number>, fractions: readonly number[]): number[] {
  const n = x.length;
  if (n === 0) return fractions.map(() => NaN); // as indexing an empty sorted array gives
  if (scratch.length < n) scratch = new Float32Array(n);
  const s = scratch;
  // copy, NaNs dropped: the sort puts them after every number, so ranks ≥ m are NaN
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    s[m] = v;
    if (v === v) m++;
  }
  // positions h = (n − 1)·p, their two ranks, and the ranks to select: ascending, distinct, < m
  const count = fractions.length;
  const h = new Float64Array(count), below = new Int32Array(count), above = new Int32Array(count);
  const ranks = new Int32Array(2 * count);
  let r = 0;
  for (let q = 0; q < count; q++) {
    h[q] = (n - 1) * fractions[q];
    below[q] = Math.floor(h[q]);
    above[q] = Math.min(below[q] + 1, n - 1);
    for (const k of [below[q], above[q]]) if (k < m) ranks[r++] = k;
  }
  const wanted = distinctSorted(ranks.subarray(0, r));
  if (wanted.length > 0) select(s, 0, m - 1, wanted, 0, wanted.length - 1, 0);
  // Which zero a rank holds does not matter: the comparisons cannot tell −0 from +0, and neither
  // can vlo + f·(vhi − vlo), f ≥ 0. If vlo is a zero, the sum is −0 only if vlo = −0 and
  // f·(vhi + 0) = −0, impossible as vhi + 0 is never −0; if not, vhi − vlo = −vlo for either zero.
  const out = new Array<number>(count);
  for (let q = 0; q < count; q++) {
    const vlo = below[q] < m ? s[below[q]] : NaN, vhi = above[q] < m ? s[above[q]] : NaN;
    out[q] = vlo + (h[q] - below[q]) * (vhi - vlo);
  }
  return out;
}

/** `ranks` sorted ascending in place, without repeats (a prefix of it). */
function distinctSorted(ranks: Int32Array): Int32Array {
  ranks.sort();
  let d = 0;
  for (let i = 0; i < ranks.length; i++) if (d === 0 || ranks[i] !== ranks[d - 1]) ranks[d++] = ranks[i];
  return ranks.subarray(0, d);
}

/**
 * Puts rank ranks[r] (for r in rlo..rhi, ascending, all within lo..hi) of s[lo..hi] in its sorted
 * place. Partitions around a deterministic pivot, then goes into each side only if a rank falls
 * there; a rank in the block equal to the pivot is already in place.
 */
function select(s: Float32Array, lo: number, hi: number, ranks: Int32Array, rlo: number, rhi: number, unbalanced: number): void {
  for (;;) {
    const size = hi - lo + 1;
    if (size <= SMALL) return insertionSort(s, lo, hi);
    if (unbalanced > MAX_UNBALANCED) {
      s.subarray(lo, hi + 1).sort(); // no NaN here
      return;
    }
    const i = partition(s, lo, hi, pivot(s, lo, hi)), j = leftEnd;
    if (Math.min(j - lo + 1, hi - i + 1) < size / 8) unbalanced++;
    let a = rlo; // first rank right of the left side
    while (a <= rhi && ranks[a] <= j) a++;
    let b = a; // first rank in the right side
    while (b <= rhi && ranks[b] < i) b++;
    const left = a > rlo, right = b <= rhi;
    if (left && right) select(s, lo, j, ranks, rlo, a - 1, unbalanced);
    if (right) {
      lo = i;
      rlo = b;
    } else if (left) {
      hi = j;
      rhi = a - 1;
    } else return;
  }
}

/** Where {@link partition}'s left side ends: its second result, kept out of an allocation. */
let leftEnd = 0;

/**
 * Hoare partition of s[lo..hi] around value p, stopping on equal values on both sides so that ties
 * (a ReLU layer's zeros) split evenly: afterwards s[lo..j] ≤ p, s[j+1..i-1] = p, s[i..hi] ≥ p;
 * returns i, and j in {@link leftEnd}. p is a value of the range, so each scan meets a stopper
 * before leaving it. A function of its own so that the hot loop is optimized apart from the
 * recursion around it.
 */
function partition(s: Float32Array, lo: number, hi: number, p: number): number {
  let i = lo, j = hi;
  while (i <= j) {
    while (s[i] < p) i++;
    while (s[j] > p) j--;
    if (i <= j) {
      const t = s[i];
      s[i] = s[j];
      s[j] = t;
      i++;
      j--;
    }
  }
  leftEnd = j;
  return i;
}

function insertionSort(s: Float32Array, lo: number, hi: number): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = s[i];
    let j = i - 1;
    while (j >= lo && s[j] > v) {
      s[j + 1] = s[j];
      j--;
    }
    s[j + 1] = v;
  }
}

const median3 = (a: number, b: number, c: number): number => (a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b);

/** Median of three for mid-sized ranges, Tukey's ninther (median of three medians) for large ones. */
function pivot(s: Float32Array, lo: number, hi: number): number {
  const mid = lo + ((hi - lo) >> 1);
  if (hi - lo < 128) return median3(s[lo], s[mid], s[hi]);
  const e = (hi - lo) >> 3;
  return median3(median3(s[lo], s[lo + e], s[lo + 2 * e]), median3(s[mid - e], s[mid], s[mid + e]), median3(s[hi - 2 * e], s[hi - e], s[hi]));
}
