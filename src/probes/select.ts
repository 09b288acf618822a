/**
 * Quantiles of a float32 array by selection instead of a full sort: only the few order statistics
 * the quantiles need. For the distribution probe's 14 ranks of 16,000 entries this is a few passes
 * over the data instead of an n·log n sort, and it returns the very values the sort gives.
 *
 * 1. A histogram of the entries' leading bits, taken from the float's bit pattern mapped so that
 *    unsigned order is numeric order (sign flipped for positives, all bits for negatives): each
 *    bucket is a value range, so the counts tell in which bucket each wanted rank lies, and where.
 * 2. The entries of those buckets only, gathered bucket after bucket (so already in order between
 *    buckets): for 16,000 normally spread values about 8% of them; more where values crowd into
 *    few buckets (a ReLU layer's zeros, a saturated tanh's values just below 1).
 * 3. Within each gathered bucket, a multi-rank quickselect (one recursive partition over the sorted
 *    list of its ranks, each subrange partitioned once), unless the bucket holds one value only
 *    (as the zeros of a ReLU layer do).
 *
 * Same values as `Float32Array.from(x).sort()` followed by linear interpolation at rank (n − 1)·p,
 * including the order a typed-array sort defines beyond `<`: NaN sorts last, so a quantile whose
 * ranks land among the NaNs is NaN; −0 sorts before +0 (in the bit order, too; and it could not
 * show in a quantile anyway, see below).
 */

/** Leading bits of the key that pick a bucket: sign, exponent and 3 mantissa bits, 8 buckets per octave. */
const BUCKET_BITS = 12;
const SHIFT = 32 - BUCKET_BITS;
/** Below this size a subrange is sorted by insertion: cheaper than partitioning it further. */
const SMALL = 16;
/** Rounds on one path that split off less than 1/8 of their range before the path gives up on
 * partitioning and sorts its subrange: keeps the worst case near n·log n (deterministic pivots
 * have inputs that defeat them), while ordinary inputs never get there. */
const MAX_UNBALANCED = 4;

// Reused across calls: the probe runs on the same layer sizes every time, so no allocation per call.
let scratch = new Float32Array(0); // a copy of the input, when it is not float32 or has NaNs
let gathered = new Float32Array(0);
const counts = new Int32Array(1 << BUCKET_BITS);
const taken = new Int32Array(1 << BUCKET_BITS); // per bucket: 1 + where it goes in `gathered`, 0 = not wanted

/** Bucket of a float32 by its bit pattern `b`: the leading bits of a key whose unsigned order is the numeric order. */
const bucketOf = (b: number): number => (b ^ ((b >> 31) | 0x80000000)) >>> SHIFT;

/**
 * Quantiles `fractions` (p ∈ [0, 1]) of `x`, interpolated linearly between the two nearest ranks
 * (position (n − 1)·p; numpy's default, R's type 7), exactly as interpolating in the ascending
 * typed-array sort of `x` would. `x` is left untouched.
 */
export function quantilesBySelection(x: ArrayLike<number>, fractions: readonly number[]): number[] {
  const n = x.length;
  if (n === 0) return fractions.map(() => NaN); // as indexing an empty sorted array gives
  if (gathered.length < n) gathered = new Float32Array(n);
  const g = gathered;
  // Read in place when x is float32 (the probe's case: a view of the tensor's memory), and copied
  // without its NaNs only if it has any: the sort puts NaN after every number, so ranks ≥ m are NaN.
  let s = x instanceof Float32Array ? x : copy(x), bits = bitsOf(s), m = n;
  if (histogram(bits, n) > 0) {
    s = copy(x);
    m = dropNaN(s, n);
    bits = bitsOf(s);
    histogram(bits, m);
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
    if (below[q] < m) ranks[r++] = below[q];
    if (above[q] < m) ranks[r++] = above[q];
  }
  const wanted = distinctSorted(ranks.subarray(0, r));
  const at = new Int32Array(wanted.length); // where each wanted rank's value ends up in `g`

  const first = new Int32Array(wanted.length), size = new Int32Array(wanted.length);
  locate(wanted, first, size, at);
  gather(s, bits, m, g);
  for (let lo = 0; lo < wanted.length; ) lo = selectInBucket(g, first, size, at, lo);

  // Which zero a rank holds does not matter to the result: vlo + f·(vhi − vlo), f ≥ 0, is never
  // −0 (if vlo is a zero, the sum is −0 only if vlo = −0 and f·(vhi + 0) = −0, impossible as
  // vhi + 0 is never −0), and if vlo is not a zero, vhi − vlo = −vlo for either zero.
  const out = new Array<number>(count);
  for (let q = 0; q < count; q++) {
    const vlo = below[q] < m ? g[at[wanted.indexOf(below[q])]] : NaN;
    const vhi = above[q] < m ? g[at[wanted.indexOf(above[q])]] : NaN;
    out[q] = vlo + (h[q] - below[q]) * (vhi - vlo);
  }
  return out;
}

/** Counts of the entries per bucket, from their bit patterns bits[0..m); returns how many are NaN. */
function histogram(bits: Int32Array, m: number): number {
  counts.fill(0);
  let nan = 0;
  for (let i = 0; i < m; i++) {
    const b = bits[i];
    counts[bucketOf(b)]++;
    if ((b & 0x7fffffff) > 0x7f800000) nan++; // exponent all ones, mantissa not zero
  }
  return nan;
}

/** x as float32 in the scratch array (its first x.length entries). */
function copy(x: ArrayLike<number>): Float32Array {
  if (scratch.length < x.length) scratch = new Float32Array(x.length);
  scratch.set(x);
  return scratch;
}

const bitsOf = (s: Float32Array): Int32Array => new Int32Array(s.buffer, s.byteOffset, s.length);

/**
 * Walks the buckets in order: for each wanted rank (ascending) the start and size of its bucket
 * among the gathered buckets, and where its value will be (`first`, `size`, `at`); marks the
 * wanted buckets in `taken` with where they go.
 */
function locate(wanted: Int32Array, first: Int32Array, size: Int32Array, at: Int32Array): void {
  let w = 0, before = 0, filled = 0;
  for (let b = 0; w < wanted.length; b++) {
    const c = counts[b];
    if (wanted[w] < before + c) {
      taken[b] = filled + 1;
      for (; w < wanted.length && wanted[w] < before + c; w++) {
        first[w] = filled;
        size[w] = c;
        at[w] = filled + wanted[w] - before;
      }
      filled += c;
    }
    before += c;
  }
}

/** Copies the entries of the wanted buckets to g, bucket after bucket; clears the marks. */
function gather(s: Float32Array, bits: Int32Array, m: number, g: Float32Array): void {
  for (let i = 0; i < m; i++) {
    const b = bucketOf(bits[i]), t = taken[b];
    if (t !== 0) {
      g[t - 1] = s[i];
      taken[b] = t + 1;
    }
  }
  taken.fill(0);
}

/**
 * Selects, within its bucket, wanted rank number `lo` and those after it in the same bucket;
 * returns the number of the first wanted rank in the next bucket.
 */
function selectInBucket(g: Float32Array, first: Int32Array, size: Int32Array, at: Int32Array, lo: number): number {
  let hi = lo;
  while (hi + 1 < first.length && first[hi + 1] === first[lo]) hi++;
  const start = first[lo], end = start + size[lo] - 1;
  if (!allEqual(g, start, end)) select(g, start, end, at, lo, hi, 0);
  return hi + 1;
}

/** Moves the non-NaN entries of s[0..n) to its front, in order; returns their count. */
function dropNaN(s: Float32Array, n: number): number {
  let m = 0;
  while (m < n && s[m] === s[m]) m++; // usually all of them: a read-only scan
  for (let i = m + 1; i < n; i++) {
    const v = s[i];
    if (v === v) s[m++] = v;
  }
  return m;
}

function allEqual(s: Float32Array, lo: number, hi: number): boolean {
  const v = s[lo];
  for (let i = lo + 1; i <= hi; i++) if (s[i] !== v) return false;
  return true;
}

/** `ranks` sorted ascending in place, without repeats (a prefix of it). */
function distinctSorted(ranks: Int32Array): Int32Array {
  ranks.sort();
  let d = 0;
  for (let i = 0; i < ranks.length; i++) if (d === 0 || ranks[i] !== ranks[d - 1]) ranks[d++] = ranks[i];
  return ranks.subarray(0, d);
}

/**
 * Puts the entries of sorted ranks ranks[rlo..rhi] (positions in s, ascending, all within lo..hi)
 * of s[lo..hi] in their sorted places. Partitions around a deterministic pivot, then goes into each
 * side only if a rank falls there; a rank in the block equal to the pivot is already in place.
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
