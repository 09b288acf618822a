/**
 * Options objects checked at run time: plain JavaScript callers get no compile-time check, and a
 * misspelled option (`{ epocs: 3 }`) would otherwise be ignored in silence. Every entry point of
 * the library lists its options here, as a record TypeScript keeps complete ({@link optionKeys}).
 */
import { ProbeError, ErrorCode } from './errors.js';
import { msg } from './messages.js';

/** Optimal string alignment distance (Levenshtein with adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate `word` most likely meant, or null: the nearest by edit distance (case ignored),
 * if within a third of the word's length (at least 1), or one that starts with it.
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | null {
  const w = word.toLowerCase();
  let best: string | null = null, bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) { best = c; bestD = d; }
  }
  if (best !== null && bestD <= Math.max(1, Math.floor(w.length / 3))) return best;
  if (w.length >= 3) for (const c of candidates) if (c.toLowerCase().startsWith(w)) return c;
  return null;
}

/** Every key of `T`, as a record TypeScript checks for completeness: `optionKeys<RunInput>({ combo: 1, … })`. */
export function optionKeys<T>(keys: { readonly [K in keyof Required<T>]: 1 }): readonly string[] {
  return Object.keys(keys);
}

/**
 * Refuses an options object with a key its function does not know, naming the nearest known one.
 * `where` names the function (`runExperiment`). Keys whose value is undefined are ignored too.
 */
export function checkOptions(where: string, given: unknown, known: readonly string[]): void {
  if (given === null || typeof given !== 'object') return;
  for (const key of Object.keys(given)) {
    if (known.includes(key) || (given as Record<string, unknown>)[key] === undefined) continue;
    throw new ProbeError(ErrorCode.usage, msg.unknownOption(where, key, didYouMean(key, known), known));
  }
}
