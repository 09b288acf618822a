/**
 * The thresholds drawn on the charts of shares: where a rule reads a per-step share, its chart
 * draws the rule's threshold, so a share is seen against what would count — a wrong-side share of
 * 0.5% under a rule at 0.5 reads as the harmless figure it is, not as a line filling the chart.
 *
 * Two kinds of rules read shares, and each run's lines come from the ones in force for it:
 * - the report's own "What is wrong" findings (read/diagnose-rules.ts SHARE_FINDINGS), applied to
 *   every run: a share whose mean at the end is above the threshold;
 * - the rules the run was given (--stop-when, --warn-when, attachProbes' `rules`), with the
 *   thresholds stored in its trace (src/rules): a share at or above it for `patience` steps.
 * A line is drawn only where the rule reads a layer the chart draws (the saturation rule reads
 * sat_frac on hidden layers: a chart of the output layer's sat_frac alone has no line).
 */
import type { RunDigest } from '../read/digest.js';
import { SHARE_FINDINGS, END_SHARE } from '../read/diagnose-rules.js';
import { RULE_RELATION, RULES, ruleMetrics } from '../rules/rules.js';
import { SHARE_METRICS } from '../trace/metrics.js';
import type { Row } from '../page/shell.js';

const num = (v: number) => String(Number(v.toPrecision(4)));
const layersText = (ls: readonly number[]) => `layer${ls.length > 1 ? 's' : ''} ${ls.join(', ')}`;

interface Line { readonly metric: string; readonly threshold: number; readonly label: string; readonly detail: string }

/** The lines of one run: per share metric it records, those of the rules that read it on a layer it records. */
function linesOf(d: RunDigest): Line[] {
  const L = d.acts.length;
  const layers = new Map<string, Set<number>>();
  for (const p of d.series) if (p.layer > 0 && SHARE_METRICS.has(p.metric)) (layers.get(p.metric) ?? layers.set(p.metric, new Set()).get(p.metric)!).add(p.layer);
  const out: Line[] = [];
  for (const [metric, set] of layers) {
    const drawn = [...set].sort((a, b) => a - b);
    // name the layers when the chart draws some the rule does not read
    const scope = (read: readonly number[]) => (read.length < drawn.length ? ` (${layersText(read)})` : '');
    for (const f of SHARE_FINDINGS) {
      if (f.metric !== metric) continue;
      const read = drawn.filter((l) => (l === L) === (f.scope === 'output'));
      if (!read.length) continue;
      out.push({
        metric, threshold: f.threshold,
        label: `"what is wrong": ${f.finding} above ${num(f.threshold)}${scope(read)}`,
        detail: `the report's "What is wrong" finds ${layersText(read)} ${f.finding} when the mean of ${metric} over the run's last ${num(100 * END_SHARE)}% of steps is above ${num(f.threshold)}`,
      });
    }
    for (const r of d.rules) {
      const spec = RULES[r.rule];
      if (spec.test === 'nonFinite' || !Number.isFinite(r.threshold)) continue;
      const read = drawn.filter((l) => ruleMetrics(spec, l === L).includes(metric));
      if (!read.length) continue;
      const rel = RULE_RELATION[spec.test];
      out.push({
        metric, threshold: r.threshold,
        label: `rule ${r.rule} (${r.action}) fires at ${rel} ${num(r.threshold)}${scope(read)}`,
        detail: `rule ${r.rule}, given to this run with the ${r.action} action: fires on ${layersText(read)} when ${metric} ${rel} ${num(r.threshold)} at every probed step for ${r.patience} steps (${spec.describe})`,
      });
    }
  }
  return out;
}

/**
 * One row per chosen run (or combination) and share metric and threshold: the labels of the rules
 * at that threshold, a line each (`label`), and what each means (`detail`, for the tooltip).
 */
export function thresholdRows(digests: readonly RunDigest[], pickOf: (d: RunDigest) => string): Row[] {
  const rows = new Map<string, { pick: string; metric: string; threshold: number; labels: string[]; details: string[] }>();
  for (const d of digests) {
    const pick = pickOf(d);
    for (const x of linesOf(d)) {
      const k = `${pick}|${x.metric}|${x.threshold}`;
      const row = rows.get(k) ?? rows.set(k, { pick, metric: x.metric, threshold: x.threshold, labels: [], details: [] }).get(k)!;
      // the seeds of a combination mostly share their rules: each line once
      if (!row.labels.includes(x.label)) { row.labels.push(x.label); row.details.push(x.detail); }
    }
  }
  return [...rows.values()].map((r) => ({ pick: r.pick, metric: r.metric, threshold: r.threshold, label: r.labels.join('\n'), detail: r.details.join('; ') }));
}
