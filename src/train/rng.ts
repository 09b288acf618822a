/**
 * Seeded pseudo-random numbers (xoshiro128**, seeded through splitmix32), so that a run's
 * initial weights and batch order depend only on the seed, never on the backend or platform.
 * Each purpose gets its own stream (`rng(seed, 'init')`, `rng(seed, 'shuffle', epoch)`), so adding
 * a random draw in one place does not shift the numbers drawn in another.
 */
export interface Rng {
  /** uniform 32-bit unsigned integer */
  u32(): number;
  /** uniform in [0, 1), 24 bits of precision (exactly representable in float32) */
  float(): number;
  /** uniform integer in [0, n) without modulo bias */
  int(n: number): number;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function rng(seed: number, stream: string, index = 0): Rng {
  const mix = splitmix32((seed >>> 0) ^ hashString(stream) ^ Math.imul(index + 1, 0x27d4eb2d));
  let a = mix(), b = mix(), c = mix(), d = mix();
  if ((a | b | c | d) === 0) a = 1;
  const u32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  return {
    u32,
    float: () => (u32() >>> 8) / 16777216,
    int: (n: number) => {
      const limit = Math.floor(0x100000000 / n) * n;
      let x: number;
      do x = u32(); while (x >= limit);
      return x % n;
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, r: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1);
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}
