/**
 * The grid of a sweep: combinations from activation sets and patterns, seeds from lists and
 * ranges, in one canonical order (combination-major, then seed), and its deterministic shards.
 */
import { isActivation, type Activation } from '../activations/index.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';

export interface GridPoint {
  readonly combo: string;
  readonly seed: number;
}

/** Every combination of `acts` over `layers` layers, in the order of `acts` (layer 1 slowest). */
export function allCombos(acts: readonly Activation[], layers: number): string[] {
  let out: string[][] = [[]];
  for (let l = 0; l < layers; l++) out = out.flatMap((prefix) => acts.map((a) => [...prefix, a]));
  return out.map((c) => c.join('-'));
}

/** Combinations matching any of the comma-separated patterns; `*` stands for any activation. */
export function expandCombos(acts: readonly Activation[], patterns: string | undefined, layers: number): string[] {
  const all = allCombos(acts, layers);
  // left out: every combination; given empty ('' from a variable that was not set): refused, never read as all
  if (patterns === undefined || patterns.trim() === '*') return all;
  const ps = patterns.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean);
  if (ps.length === 0) throw new ProbeError(ErrorCode.config, msg.emptyPatterns(patterns, all.length));
  for (const p of ps) {
    const parts = p.split('-');
    if (parts.length !== layers || parts.some((x) => x !== '*' && !isActivation(x))) throw new ProbeError(ErrorCode.config, msg.badPattern(p, layers));
  }
  const matches = (combo: string, p: string) => combo.split('-').every((a, i) => p.split('-')[i] === '*' || p.split('-')[i] === a);
  const out = all.filter((c) => ps.some((p) => matches(c, p)));
  if (out.length === 0) throw new ProbeError(ErrorCode.config, msg.noCombos(patterns, acts.join(',')));
  return out;
}

export function parseSeeds(raw: string): number[] {
  const seeds: number[] = [];
  for (const part of raw.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new ProbeError(ErrorCode.config, msg.badSeeds(raw));
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 100000) throw new ProbeError(ErrorCode.config, msg.badSeeds(raw));
    for (let s = a; s <= b; s++) if (!seeds.includes(s)) seeds.push(s);
  }
  return seeds;
}

export function grid(combos: readonly string[], seeds: readonly number[]): GridPoint[] {
  return combos.flatMap((combo) => seeds.map((seed) => ({ combo, seed })));
}

export interface Shard {
  /** 1-based */
  readonly index: number;
  readonly count: number;
}

export function parseShard(raw: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(raw.trim());
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!(count >= 1 && index >= 1 && index <= count)) throw new ProbeError(ErrorCode.config, msg.badShard(raw));
  return { index, count };
}

/** Round-robin over the canonical order: every point in exactly one shard, shards within one run of each other in size. */
export function shardOf<T>(points: readonly T[], s: Shard): T[] {
  return points.filter((_, k) => k % s.count === s.index - 1);
}
