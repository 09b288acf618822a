/**
 * A reproduction table: the runs' final test accuracy per combination set beside published
 * figures (`probe report --reference FILE.csv`), the first question of anyone reproducing a paper.
 *
 * The file: a header and one row per combination. Columns, by name (any case): `combination` (or
 * `combo`), `mean`, optionally `sd`, a variant (`bn`: none, last or all; or `variant`: as the report
 * names one, e.g. `mnist · bn-last`) and per-seed values (`seed1`, `s1`, … any number of them).
 * Values are percentages when any of them ends in `%` or exceeds 1, fractions otherwise; the table
 * says which reading it took.
 *
 * Rules, fixed before any result was looked at:
 * - a combination is *within the published spread* when our mean lies in [mean − sd, mean + sd]
 *   of the published figures, or, without an sd, in the [min, max] of at least two published
 *   per-seed values; without either it is not judged (and not counted);
 * - the rank correlation is Spearman's ρ between our means and the published means over the
 *   combinations both have (at least 3), with a bootstrap 95% interval resampling combinations;
 * - a run fails by the report's own rule (study.ts FAIL_MARGIN below the controls' median).
 */
import { readFileSync } from 'node:fs';
import { isActivation } from '../activations/index.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import type { RunDigest } from '../read/digest.js';
import { clusteredSpearman, mean, sd, type Interval } from '../read/stats.js';
import { failRule } from './hypotheses.js';

export interface ReferenceRow {
  readonly combo: string;
  /** as given in the file (`last`, `bn-last`, `mnist · bn-last`); null: the study's setting (no batch norm) */
  readonly variant: string | null;
  /** fractions of 1 */
  readonly mean: number;
  readonly sd: number | null;
  readonly seeds: readonly number[];
}

export interface Reference {
  readonly file: string;
  readonly unit: 'percent' | 'fraction';
  readonly rows: readonly ReferenceRow[];
}

export interface ReproductionRow {
  readonly combo: string;
  readonly variant: string;
  /** our runs of the combination in that variant */
  readonly runs: number;
  readonly mean: number | null;
  readonly sd: number | null;
  /** share of our runs that fail by the report's rule; null without controls to set the rule */
  readonly failing: number | null;
  readonly published: ReferenceRow;
  /** the published spread our mean is judged against; null when the file gives none */
  readonly spread: readonly [number, number] | null;
  /** null: not judged (no spread, or no runs of ours) */
  readonly within: boolean | null;
}

export interface Reproduction {
  readonly file: string;
  readonly unit: Reference['unit'];
  readonly rows: readonly ReproductionRow[];
  /** combinations within the published spread, of those judged */
  readonly within: number;
  readonly judged: number;
  /** Spearman ρ of our means against the published ones; null with fewer than 3 combinations in both */
  readonly rho: Interval | null;
  readonly rhoN: number;
}

const COMBO_COLS = ['combination', 'combo'];
const SEED_COL = /^(seed|s)[ _-]?(\d+)$/i;

/** Fields of one CSV line; double quotes may enclose a field (with "" for a quote). */
function fields(line: string): string[] {
  const out: string[] = [];
  let cur = '', quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { out.push(cur.trim()); cur = ''; } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** Reads and checks a reference file; every problem is one line naming the file, the line and the value. */
export function readReference(file: string): Reference {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (cause) {
    throw new ProbeError(ErrorCode.usage, msg.referenceBad(file, 0, `cannot read it (${(cause as NodeJS.ErrnoException).code ?? cause})`), { cause });
  }
  const lines = text.split(/\r?\n/).map((l, i) => ({ n: i + 1, l })).filter((x) => x.l.trim() !== '' && !x.l.trim().startsWith('#'));
  if (lines.length < 2) throw new ProbeError(ErrorCode.usage, msg.referenceBad(file, 0, 'needs a header line and at least one combination'));
  const head = fields(lines[0].l).map((h) => h.toLowerCase());
  const col = (names: readonly string[]) => head.findIndex((h) => names.includes(h));
  const ci = col(COMBO_COLS), mi = col(['mean']), si = col(['sd', 'std']), vi = col(['variant', 'bn']);
  if (ci < 0 || mi < 0) throw new ProbeError(ErrorCode.usage, msg.referenceBad(file, lines[0].n, `its header '${lines[0].l.trim()}' needs a 'combination' and a 'mean' column (optional: sd, bn or variant, seed1, seed2, …)`));
  const seedCols = head.map((h, i) => (SEED_COL.test(h) ? i : -1)).filter((i) => i >= 0);
  const raw = lines.slice(1).map(({ n, l }) => {
    const f = fields(l);
    const combo = (f[ci] ?? '').toLowerCase();
    const parts = combo.split('-');
    if (parts.length < 2 || !parts.every(isActivation)) throw new ProbeError(ErrorCode.usage, msg.referenceBad(file, n, `'${f[ci] ?? ''}' is not a combination (activations joined by '-', e.g. relu-sigmoid-relu)`));
    const num = (s: string | undefined, what: string, optional: boolean): { v: number; pct: boolean } | null => {
      const t = (s ?? '').trim();
      if (t === '' && optional) return null;
      const pct = t.endsWith('%');
      const v = Number(pct ? t.slice(0, -1) : t);
      if (t === '' || !Number.isFinite(v) || v < 0) throw new ProbeError(ErrorCode.usage, msg.referenceBad(file, n, `${what} '${t}' is not a number ≥ 0 (a fraction like 0.3491 or a percentage like 34.91 or 34.91%)`));
      return { v, pct };
    };
    const m = num(f[mi], 'mean', false)!;
    const s = si >= 0 ? num(f[si], 'sd', true) : null;
    const seeds = seedCols.map((i) => num(f[i], head[i], true)).filter((x): x is { v: number; pct: boolean } => x !== null);
    const variant = vi >= 0 && (f[vi] ?? '').trim() !== '' ? f[vi].trim() : null;
    return { n, combo, variant, m, s, seeds };
  });
  const all = raw.flatMap((r) => [r.m, ...(r.s ? [r.s] : []), ...r.seeds]);
  const percent = all.some((x) => x.pct || x.v > 1);
  const frac = (v: number) => (percent ? v / 100 : v);
  for (const r of raw) for (const x of [r.m, ...r.seeds]) if (frac(x.v) > 1) throw new ProbeError(ErrorCode.usage, msg.referenceBad(file, r.n, `accuracy ${x.v}${percent ? '%' : ''} is above 100%`));
  const keys = new Set<string>();
  for (const r of raw) {
    const k = `${r.combo}|${r.variant ?? ''}`;
    if (keys.has(k)) throw new ProbeError(ErrorCode.usage, msg.referenceBad(file, r.n, `${r.combo}${r.variant ? ` (${r.variant})` : ''} is listed twice`));
    keys.add(k);
  }
  return {
    file, unit: percent ? 'percent' : 'fraction',
    rows: raw.map((r) => ({ combo: r.combo, variant: r.variant, mean: frac(r.m.v), sd: r.s ? frac(r.s.v) : null, seeds: r.seeds.map((x) => frac(x.v)) })),
  };
}

/** Whether a run's variant is the one a reference row names (none = the study's setting). */
function sameVariant(d: RunDigest, v: string | null): boolean {
  if (v === null || ['none', 'no', 'mnist', ''].includes(v.toLowerCase())) return d.bn === 'none' && d.dataset === 'mnist';
  const s = v.toLowerCase();
  return s === d.variant.toLowerCase() || s === d.bn || s === `bn-${d.bn}` || (s === 'bn' && d.bn !== 'none' && d.dataset === 'mnist');
}

export function reproduce(ref: Reference, digests: readonly RunDigest[]): Reproduction {
  const done = digests.filter((d) => d.study && d.finalTestAcc !== null);
  const rows: ReproductionRow[] = ref.rows.map((p) => {
    const ours = done.filter((d) => d.combo === p.combo && sameVariant(d, p.variant));
    const variant = ours[0]?.variant ?? (p.variant ?? 'mnist');
    const accs = ours.map((d) => d.finalTestAcc as number);
    const rule = failRule(done.filter((d) => d.variant === variant));
    const m = accs.length ? mean(accs) : null;
    const spread: readonly [number, number] | null = p.sd !== null ? [p.mean - p.sd, p.mean + p.sd]
      : p.seeds.length >= 2 ? [Math.min(...p.seeds), Math.max(...p.seeds)] : null;
    return {
      combo: p.combo, variant, runs: accs.length, mean: m, sd: accs.length > 1 ? sd(accs) : null,
      failing: rule.below === null || accs.length === 0 ? null : accs.filter((a) => a < (rule.below as number)).length / accs.length,
      published: p, spread, within: spread === null || m === null ? null : m >= spread[0] && m <= spread[1],
    };
  });
  const both = rows.filter((r) => r.mean !== null);
  return {
    file: ref.file, unit: ref.unit, rows,
    within: rows.filter((r) => r.within === true).length, judged: rows.filter((r) => r.within !== null).length,
    // one item per combination (its own cluster): the bootstrap resamples combinations
    rho: both.length >= 3 ? clusteredSpearman(both.map((r) => ({ cluster: `${r.combo}|${r.variant}`, x: r.mean as number, y: r.published.mean }))) : null,
    rhoN: both.length,
  };
}
