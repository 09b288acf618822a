/**
 * The self-contained page: vega, vega-lite and vega-embed inlined from node_modules, every table
 * embedded once (columnar, expanded in the page), a Content-Security-Policy that forbids any
 * network request, and one selector driving every per-run chart.
 */
import type { Datasets } from './datasets.js';
import { fmtInterval, type HypothesisResult, type Prevalence } from '../study/hypotheses.js';
import type { Interventions } from '../study/interventions.js';
import type { GroupAttribution } from '../study/attribution.js';
import type { Reproduction } from '../study/reference.js';
import { COVERS, FAIL_MARGIN, MIN_RUNS, MOST } from '../study/study.js';
import { NO_RUN, Overlay, OVERLAY_LABELS, type Panel } from './panels.js';
import { CHART_CONTROLS, CHARTS_JS } from '../page/embed.js';
import { chart, CSP, esc, libScripts, payload, script, STYLE } from '../page/shell.js';
import { diagnosisSection, DIAGNOSIS_STYLE } from '../page/diagnosis-html.js';
import type { RunDiagnosis } from '../read/diagnose.js';

export interface PageInput {
  readonly title: string;
  readonly generated: string;
  readonly version: string;
  readonly inputs: string;
  readonly datasets: Datasets;
  readonly panels: readonly Panel[];
  readonly hypotheses: readonly HypothesisResult[];
  readonly prevalences: readonly Prevalence[];
  readonly interventions: readonly Interventions[];
  readonly attribution: readonly GroupAttribution[];
  /** the runs beside published figures (`--reference`); null or absent without one */
  readonly reproduction?: Reproduction | null;
  /** per value of the run selector, the diagnosis lines of its runs */
  readonly diagnoses: Readonly<Record<string, readonly string[]>>;
  readonly notes: readonly string[];
  readonly warnings: readonly string[];
  readonly singleRun: string | null;
  /** what is wrong with each run (read/diagnose.ts): the page opens with it */
  readonly health: readonly RunDiagnosis[];
  /** whether any run is of the study's MLP: only then do its H1/H2 sections follow */
  readonly study: boolean;
  /** per variant, a note when its verdicts come from runs shorter than the study's schedule */
  readonly studyShort: Readonly<Record<string, string>>;
}

const VERDICT_CLASS = { supported: 'ok', 'not supported': 'bad', inconclusive: 'meh' } as const;
const pct = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(1)}%`);

/** What a verdict means and does not mean, for a newcomer. */
export const VERDICT_MEANING = [
  'A verdict says whether these runs behave as the hypothesis predicts, judged by four claims fixed before the data were seen, each of which holds only if its 95% interval lies entirely on the predicted side of its line.',
  "It is evidence about these runs, not proof of a cause: 'supported' does not rule out other explanations, 'not supported' means at least one prediction clearly failed here, and 'inconclusive' means there are too few runs, too few failures, or too much spread to tell.",
] as const;

const shortBadge = (note: string | undefined) => (note ? ` <span class="badge meh short" title="${esc(note)}">short runs</span> <span class="meta short-note">${esc(note)}</span>` : '');

function hypothesisHtml(h: HypothesisResult, singleRun: string | null, showVariant: boolean, short: string | undefined): string {
  const rows = h.claims.map((c) => `<tr><td>${c.id}</td><td>${esc(c.text)}</td><td>${esc(c.statistic)}</td><td>${esc(c.n)}</td><td>${esc(c.rule)}</td><td class="${c.holds === null ? 'meh' : c.holds ? 'ok' : 'bad'}">${c.holds === null ? `undecided${c.missing ? ` (${esc(c.missing)})` : ''}` : c.holds ? 'as predicted' : 'against'}</td></tr>`).join('');
  const robust = h.robustness.map((r) => `<tr><td>${esc(r.label)}</td><td>${r.present ? esc(fmtInterval(r.present)) : '—'}</td><td>${r.specific ? esc(fmtInterval(r.specific)) : '—'}</td></tr>`).join('');
  const single = singleRun
    ? `<p class="single">One run only: ${esc(singleRun)}. A verdict needs at least ${MIN_RUNS} runs of a (sigmoid, relu) combination, ${MIN_RUNS} of the control and ${MIN_RUNS} failing target runs (different seeds count).</p>`
    : '';
  return `<section class="hyp" id="${h.id}-${esc(h.variant.replace(/\W+/g, '-'))}">
<h3><span class="badge ${VERDICT_CLASS[h.verdict]}">${h.verdict}</span> ${h.id}: ${esc(h.title)}${showVariant ? ` <span class="meta">(${esc(h.variant)} runs)</span>` : ''}${shortBadge(short)}</h3>
<p><b>Primary measure</b> (<code>${esc(h.metric)}</code>): ${esc(h.measure)}.<br><b>Mechanism</b>: the cause <code>${esc(h.cause)}</code>, checked for each misclassified test input.<br><b>Verdict rule</b>: supported if claims A, M, B and C all have their 95% interval on the predicted side; not supported if any has it entirely on the other side; otherwise inconclusive. <b>Here</b>: ${esc(h.reason)}.</p>
${single}<table><thead><tr><th></th><th>claim</th><th>statistic [95% CI]</th><th>n</th><th>rule</th><th>result</th></tr></thead><tbody>${rows}</tbody></table>
<details><summary>Robustness: other readings of the measure (reported, never used for the verdict)</summary><table><thead><tr><th>reading</th><th>A: mean over failing target runs [95% CI]</th><th>B: target − ${h.control} [95% CI]</th></tr></thead><tbody>${robust}</tbody></table></details>
</section>`;
}

function prevalenceHtml(p: Prevalence, showVariant: boolean, short: string | undefined): string {
  const chance = `at or near chance (at most 1/classes + ${100 * FAIL_MARGIN} points)`;
  const rule = p.failBelow === null
    ? `a run fails if its final test accuracy is ${chance}; no control runs (C1 or C2), so no rule relative to them`
    : `a run fails if its final test accuracy is ${chance} or below ${pct(p.failBelow)} (the controls' median ${pct(p.controlMedian)} minus ${100 * FAIL_MARGIN} points)`;
  const rows = p.perCombo.map((c) => `<tr><td>${esc(c.combo)}</td><td>${c.group}</td><td>${c.failing} of ${c.runs}</td><td>${pct(c.meanAcc)}</td></tr>`).join('');
  return `<h3>Prevalence${showVariant ? ` <span class="meta">(${esc(p.variant)} runs)</span>` : ''}${shortBadge(short)}</h3>
<p>How often the failure occurs, before asking why: ${esc(rule)}. Target group: <b>${p.targetFailing} of ${p.targetRuns}</b> runs fail${p.share ? ` (share ${esc(fmtInterval(p.share))})` : ''}; controls: ${p.controlsFailing} of ${p.controls}.</p>
<table><thead><tr><th>combination</th><th>group</th><th>failing runs</th><th>mean final accuracy</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The runs beside published figures: the first question of a reproduction. */
export function reproductionHtml(r: Reproduction): string {
  const f = (v: number | null) => (v === null ? '—' : (100 * v).toFixed(2));
  const rows = r.rows.map((x) => {
    const p = x.published;
    const ours = x.mean === null ? '— (no run)' : `${f(x.mean)}${x.sd !== null ? ` ± ${f(x.sd)}` : ''}`;
    const pub = `${f(p.mean)}${p.sd !== null ? ` ± ${f(p.sd)}` : ''}${p.seeds.length ? ` <span class="meta">(seeds ${p.seeds.map((s) => f(s)).join(', ')})</span>` : ''}`;
    const within = x.within === null ? `<span class="meta">${x.mean === null ? 'no runs' : 'no spread given'}</span>` : x.within ? '<span class="ok">within</span>' : '<span class="bad">outside</span>';
    return `<tr><td>${esc(x.combo)}</td><td>${esc(x.variant)}</td><td>${x.runs}</td><td>${ours}</td><td>${x.failing === null ? '—' : `${(100 * x.failing).toFixed(0)}%`}</td><td>${pub}</td><td>${x.mean === null ? '—' : (100 * (x.mean - p.mean)).toFixed(2)}</td><td>${x.spread ? `[${f(x.spread[0])}, ${f(x.spread[1])}]` : '—'}</td><td>${within}</td></tr>`;
  }).join('');
  const rho = r.rho ? `Spearman ρ between our means and the published ones over ${r.rhoN} combinations: ${esc(fmtInterval(r.rho))} (bootstrap 95% interval over combinations)` : `no rank correlation: it needs 3 combinations with runs here and a published figure (${r.rhoN})`;
  return `<h3 id="reproduction">Reproduction <span class="meta">(${esc(r.file)}, read as ${r.unit === 'percent' ? 'percentages' : 'fractions'})</span></h3>
<p>Final test accuracy (%) of these runs, mean ± sd over seeds, beside the published figures. <b>${r.within} of ${r.judged}</b> combinations with a published spread lie within it${r.judged < r.rows.length ? ` (${r.rows.length - r.judged} not judged: no spread given, or no runs here)` : ''}; ${rho}. Rule, fixed before the data: our mean lies within the published mean ± sd, or, without an sd, within the range of at least two published per-seed values. Failing: share of our runs below the report's failure line (controls' median − ${100 * FAIL_MARGIN} points).</p>
<table><thead><tr><th>combination</th><th>variant</th><th>runs</th><th>ours: mean ± sd</th><th>failing</th><th>published</th><th>difference</th><th>published spread</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

function interventionsHtml(ivs: readonly Interventions[]): string {
  if (ivs.length === 0) return '<p>No pairs: the folder holds no runs of the same combination and seed with and without <code>--bn last</code> or <code>--bn all</code> (make them with <code>probe sweep --bn none,last,all</code>).</p>';
  return ivs.map((iv) => {
    const rows = iv.changes.map((c) => `<tr><td>${c.group}</td><td>${esc(c.figure)}</td><td>${c.pairs}</td><td>${c.before.toFixed(3)} → ${c.after.toFixed(3)}</td><td>${c.change ? esc(fmtInterval(c.change)) : '— (fewer than 3 pairs)'}</td></tr>`).join('');
    const readings = iv.readings.map((r) => `<li><b>${r.hypothesis}</b>: ${r.reading === 'supports' ? 'causal support' : r.reading === 'against' ? 'against' : 'undecided'} — ${esc(r.why)}</li>`).join('');
    return `<h3>${esc(iv.intervention.name)} <span class="meta">(${esc(iv.intervention.what)})</span></h3><p>${iv.pairs.length} pair(s) on ${esc(iv.dataset)}: the same combination and seed (the same initial weights and data order), in the study's setting and with <code>${esc(iv.intervention.flag)}</code>. Change = with − without, mean over pairs, two-stage bootstrap 95% interval. Rule: a hypothesis gains causal support when the intervention lowers its measure (interval below 0) and raises accuracy (interval above 0) in the target group${iv.intervention.removesH1 ? '; this intervention removes H1\'s mechanism itself (no output unit can be off), so H1 has no measure with it and gains support when accuracy rises (interval above 0)' : ''}.</p>
<table><thead><tr><th>group</th><th>figure</th><th>pairs</th><th>mean without → with</th><th>change [95% CI]</th></tr></thead><tbody>${rows}</tbody></table>
<ul>${readings}</ul>`;
  }).join('\n');
}

function attributionHtml(rows: readonly GroupAttribution[], several: boolean): string {
  if (rows.length === 0) return '<p>No run has an error attribution (traces written before probe recorded it).</p>';
  const causes = rows[0].causes.map((c) => `<th>${esc(c.cause)}${c.hypothesis ? ` (${c.hypothesis})` : ''}</th>`).join('');
  const body = rows.map((r) => `<tr><td>${esc(r.group)}${several ? ` <span class="meta">${esc(r.variant)}</span>` : ''}</td><td>${r.runs}</td><td>${pct(r.errors)}</td>${r.causes.map((c) => `<td>${c.runs === 0 ? `<span title="${esc(`cannot apply: needs ${c.needs}`)}">n/a</span>` : `${c.interval ? esc(fmtInterval(c.interval)) : Number.isFinite(c.mean) ? c.mean.toFixed(3) : '—'}${c.runs < r.runs ? ` <span class="meta">(${c.runs} of ${r.runs} runs)</span>` : ''}`}</td>`).join('')}</tr>`).join('');
  const na = rows[0].causes.map((c) => `${esc(c.cause)} needs ${esc(c.needs)}`).join('; ');
  return `<p>Per group, the mean over runs of the share of each run's misclassified test inputs (last evaluation) to which a cause applies, with a 95% interval when the group has ${MIN_RUNS} runs. A cause applying to an error is a mechanism that can produce it, not proof that it did; causes overlap (see the chart below for the overlap per run). A cause is n/a for runs it cannot apply to (${na}); such runs are left out of its mean.</p>
<table><thead><tr><th>group</th><th>runs</th><th>mean error rate</th>${causes}</tr></thead><tbody>${body}</tbody></table>`;
}

/**
 * The study's section: its hypotheses, prevalence, attribution, interventions and its line per
 * run. Only runs of its MLP are in it; a page of other models has none of it.
 */
function studySection(p: PageInput, several: boolean, diagRows: string): string {
  return `<h2 id="study">The study: H1 and H2</h2>
<p class="meaning" id="verdict-meaning">${VERDICT_MEANING.map(esc).join(' ')}</p>
<p>Claims: <b>A</b> the measure is present (mean &gt; ${MOST}) where the target group fails; <b>M</b> the hypothesis' cause covers most (&gt; ${COVERS}) of the errors of the failing runs; <b>B</b> the measure is higher in the target group than in the control that changes only the other layer; <b>C</b> it goes with lower accuracy (Spearman ρ &lt; 0). Intervals resample combinations, then seeds within them.</p>
${p.reproduction ? reproductionHtml(p.reproduction) : ''}
${p.prevalences.map((x) => prevalenceHtml(x, several, p.studyShort[x.variant])).join('\n')}
${p.hypotheses.map((h) => hypothesisHtml(h, p.singleRun, several, p.studyShort[h.variant])).join('\n')}
<h3>Error attribution</h3>
${attributionHtml(p.attribution, several)}
<h3>Interventions</h3>
${interventionsHtml(p.interventions)}
<h3>The study's mechanism per run</h3>
<table><thead><tr><th>run</th><th>variant</th><th>failed</th><th>H1/H2 mechanism</th></tr></thead><tbody>${diagRows}</tbody></table>
`;
}

/**
 * How the page gets its scripts. Unset: everything inlined, a file that works alone (`probe
 * report`). `probe watch` links the libraries from its server and embeds with its live script.
 */
export interface PageShell {
  /** the Content-Security-Policy meta tag */
  readonly csp: string;
  /** at the start of the body */
  readonly top: string;
  /** the libraries' script tags */
  readonly libs: string;
  /** the script that embeds the charts */
  readonly embed: string;
}

export function pageHtml(p: PageInput, shell?: PageShell): string {
  const section = (s: Panel['section']) => p.panels.filter((x) => x.section === s).map(chart).join('\n');
  const options = p.datasets.picks.map((v) => `<option>${esc(v)}</option>`).join('');
  const several = p.datasets.variants.length > 1;
  const diagRows = p.datasets.runs.filter((r) => r.study === true).map((r) => `<tr><td>${esc(String(r.run))}</td><td>${esc(String(r.variant))}</td><td title="${esc(String(r.failedHow ?? ''))}">${r.failed === null ? '—' : r.failed ? 'fails' : 'no'}</td><td>${esc(String(r.studyLine ?? '—'))}</td></tr>`).join('');
  const overlay = Object.values(Overlay).map((v) => `<option value="${v}">${esc(OVERLAY_LABELS[v])}</option>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">${shell?.csp ?? CSP}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(p.title)}</title>${STYLE}${DIAGNOSIS_STYLE}</head><body>${shell?.top ?? ''}
<h1>${esc(p.title)}</h1>
<p class="meta">${esc(p.inputs)} · generated ${esc(p.generated)} by probe ${esc(p.version)}</p>
${diagnosisSection(p.health)}
${p.warnings.length ? `<ul class="warn">${p.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : ''}
${p.study ? studySection(p, several, diagRows) : ''}<h2>Across runs</h2>
${section('across') || '<p>No chart: these traces do not have what the cross-run charts need.</p>'}
<h2>Per run</h2>
<p><label>${p.datasets.aggregated ? 'combination (mean over seeds)' : 'run'} <select id="pick" data-signal="pick">${options}</select></label>
 · <label>with <select id="also" data-signal="also"><option>${NO_RUN}</option>${options}</select></label>
 · <label>overlay <select id="overlay" data-signal="overlay">${overlay}</select></label>
 <span class="meta">(line charts: other runs drawn lighter; hover a line for its run)</span></p>
${CHART_CONTROLS}
<pre id="diagnosis-line" class="diag">${esc((p.diagnoses[p.datasets.picks[0] ?? ''] ?? []).join('\n'))}</pre>
${section('run')}
<h2>How to read this page</h2>
<ul>${p.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>
${shell?.libs ?? libScripts()}
${payload(p.panels, p.datasets as unknown as Record<string, unknown>)}
<script id="probe-diagnoses" type="application/json">${JSON.stringify(p.diagnoses).replace(/</g, '\\u003c')}</script>
${shell?.embed ?? script(CHARTS_JS)}
</body></html>
`;
}
