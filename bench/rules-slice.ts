/**
 * `node dist/bench/rules-slice.js <folder|trace>… [--rules TEXT]`: the rules measured on a slice of
 * the study by REPLAYING them over the traces of runs trained without rules (src/rules/replay.ts:
 * the watcher a live run uses, fed from the trace's rows — the very figures a live run hands it).
 * Every rule is replayed with the warn action (default `--rules all`: each at its defaults), so each
 * firing is seen, not only the first; "stop at" is where `--stop-when` with the same rules would
 * have ended the run.
 *
 * Prints, per run: group, final test accuracy, whether it fails, the step each rule first fired at
 * (and where), of how many steps; then per rule: on failing runs, how many it fired on and at which
 * steps; on healthy runs, how many it fired on (false alarms). A run fails by the study's own rule
 * (src/study/hypotheses.ts failureOf, as the report decides it): final test accuracy at or near
 * chance, or more than FAIL_MARGIN below the median of the control runs (C1 ∪ C2) of its variant
 * among the traces read. Read only: writes nothing.
 */
import { basename } from 'node:path';
import { digestTrace, NO_CHARTS, type RunDigest } from '../src/read/digest.js';
import { collectTraces } from '../src/read/folder.js';
import { median } from '../src/read/stats.js';
import { replayRules } from '../src/rules/replay.js';
import { parseRules, RULE_NAMES, RuleAction } from '../src/rules/rules.js';
import { FAIL_MARGIN } from '../src/study/study.js';
import { failRule, failureOf, groupOf, type FailedBy } from '../src/study/hypotheses.js';
import { readTrace } from '../src/trace/reader.js';
import type { RuleEvent } from '../src/trace/schema.js';

const args = process.argv.slice(2);
const ri = args.indexOf('--rules');
const inputs = args.filter((a, i) => !a.startsWith('--') && !(ri >= 0 && i === ri + 1));
if (inputs.length === 0) {
  process.stderr.write('usage: node dist/bench/rules-slice.js <folder|trace>… [--rules all|NAME[:THRESHOLD[:PATIENCE]],…]\n');
  process.exit(2);
}
const rules = parseRules(ri >= 0 ? args[ri + 1] : 'all', RuleAction.warn, '--rules');

interface Row {
  readonly run: string;
  readonly combo: string;
  readonly group: string;
  readonly status: string;
  readonly steps: number;
  readonly acc: number;
  readonly variant: string;
  readonly digest: RunDigest;
  /** each rule's first event */
  readonly first: ReadonlyMap<string, RuleEvent>;
}

const t0 = performance.now();
const rows: Row[] = collectTraces(inputs).map((path) => {
  const t = readTrace(path);
  const first = new Map<string, RuleEvent>();
  for (const e of replayRules(t, rules)) if (!first.has(e.rule)) first.set(e.rule, e);
  const d = digestTrace(t, NO_CHARTS);
  return { run: basename(path, '.arrow'), combo: d.combo, group: groupOf(d.acts), status: t.status, steps: t.progress?.stepsDone ?? 0, acc: d.finalTestAcc ?? NaN, variant: d.variant, digest: d, first };
}).sort((a, b) => a.run.localeCompare(b.run));
const seconds = (performance.now() - t0) / 1000;

// the study's rule, per variant (runs are compared within one variant only)
const rules_ = new Map([...new Set(rows.map((r) => r.variant))].map((v) => [v, failRule(rows.filter((r) => r.variant === v).map((r) => r.digest))]));
const failedBy = new Map<Row, FailedBy | null>(rows.map((r) => [r, failureOf(r.digest, rules_.get(r.variant)!)]));
const fails = (r: Row) => failedBy.get(r) !== null;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const stopAt = (r: Row) => Math.min(Infinity, ...[...r.first.values()].map((e) => e.step));

const out: string[] = [];
out.push(`rules replayed over ${rows.length} trace(s) in ${inputs.join(', ')} (${seconds.toFixed(1)} s): ${rules.map((r) => `${r.rule} (${Number.isFinite(r.threshold) ? `threshold ${r.threshold}, ` : ''}patience ${r.patience})`).join(', ')}`);
out.push(`failing (the study's rule, as the report decides it): final test accuracy at or near chance (1/classes + ${100 * FAIL_MARGIN} points), or ${100 * FAIL_MARGIN} points below the median of the control runs (C1 ∪ C2) of its variant: ${[...rules_].map(([v, r]) => `${v} ${r.below === null ? 'no controls' : `below ${pct(r.below)} (median of ${r.controls})`}`).join('; ')}`);
out.push('', `| run | group | status | steps | test acc | fails | stop at | ${RULE_NAMES.join(' | ')} |`, `|---|---|---|---|---|---|---|${RULE_NAMES.map(() => '---').join('|')}|`);
for (const r of rows) {
  const cells = RULE_NAMES.map((n) => { const e = r.first.get(n); return e ? `${e.step} (L${e.layer} ${e.metric})` : '—'; });
  const s = stopAt(r);
  out.push(`| ${r.run} | ${r.group} | ${r.status} | ${r.steps} | ${pct(r.acc)} | ${!Number.isFinite(r.acc) ? '?' : failedBy.get(r) ?? 'no'} | ${Number.isFinite(s) ? s : '—'} | ${cells.join(' | ')} |`);
}
// a run with no final accuracy (unfinished) is neither failing nor healthy
const failing = rows.filter(fails), healthy = rows.filter((r) => Number.isFinite(r.acc) && !fails(r));
const steps = (rs: readonly Row[], f: (r: Row) => number) => {
  const v = rs.map(f).filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? `median ${median(v)}, ${v[0]}–${v.at(-1)}` : '—';
};
out.push('', '| rule | fired on failing runs | first step there | fired on healthy runs (false alarms) | healthy runs it fired on |', '|---|---|---|---|---|');
for (const n of [...RULE_NAMES.filter((x) => rules.some((r) => r.rule === x)), 'any (--stop-when all)']) {
  const step = (r: Row) => (n.startsWith('any') ? stopAt(r) : r.first.get(n)?.step ?? Infinity);
  const onFail = failing.filter((r) => Number.isFinite(step(r))), onHealthy = healthy.filter((r) => Number.isFinite(step(r)));
  out.push(`| ${n} | ${onFail.length} of ${failing.length} | ${steps(onFail, step)} | ${onHealthy.length} of ${healthy.length} | ${onHealthy.map((r) => `${r.run} at ${step(r)}`).join(', ') || '—'} |`);
}
out.push('', '| group | runs | failing | any rule fired on failing | on healthy (false alarms) |', '|---|---|---|---|---|');
for (const g of ['target', 'C1', 'C2', 'other']) {
  const rs = rows.filter((r) => r.group === g);
  if (!rs.length) continue;
  const f = rs.filter(fails), h = rs.filter((r) => Number.isFinite(r.acc) && !fails(r));
  out.push(`| ${g} | ${rs.length} | ${f.length} | ${f.filter((r) => Number.isFinite(stopAt(r))).length} of ${f.length} | ${h.filter((r) => Number.isFinite(stopAt(r))).length} of ${h.length} |`);
}
process.stdout.write(out.join('\n') + '\n');
