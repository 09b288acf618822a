/**
 * "What is wrong": the generic diagnosis (read/diagnose.ts) at the top of every page (report,
 * watch, compare), sized for the first screen: one run as its verdict and findings; several as a
 * table, failing runs first, the rows past the first few folded away. The rules follow, folded.
 */
import type { RunDiagnosis } from '../read/diagnose.js';
import { RULE_TEXT } from '../read/diagnose-rules.js';
import { esc } from './shell.js';

/** Rows shown before the rest are folded into "n more runs". */
export const FIRST_ROWS = 8;

const verdictClass = (d: RunDiagnosis) => (d.verdict.failing === true ? 'bad' : d.verdict.failing === false ? 'ok' : 'meh');
const verdictWord = (d: RunDiagnosis) => (d.verdict.failing === true ? 'failing' : d.verdict.failing === false ? 'learning' : 'not judged');

/** Failing runs first, then runs with findings, then the rest; by name within. */
export function byConcern(ds: readonly RunDiagnosis[]): RunDiagnosis[] {
  const rank = (d: RunDiagnosis) => (d.verdict.failing === true ? 0 : d.findings.length ? 1 : d.verdict.failing === null ? 2 : 3);
  return [...ds].sort((a, b) => rank(a) - rank(b) || a.run.localeCompare(b.run));
}

function rulesHtml(): string {
  return `<details class="rules"><summary>How these are decided (rules fixed before any real run was looked at)</summary><ul>${Object.values(RULE_TEXT).map((r) => `<li>${esc(r)}</li>`).join('')}</ul></details>`;
}

function row(d: RunDiagnosis): string {
  // a run without findings: one short line (the page lists the rules under the table), and what was not checked
  const quiet = ['no finding by the rules', ...d.layers.filter((x) => x.dead && x.dead.dead > 0).map((x) => `${x.dead!.dead} of ${x.units} units of layer ${x.layer} dead`), ...d.notChecked.map((n) => `not checked: ${n}`)];
  const what = d.findings.length ? d.findings.map((f) => `<li>${esc(f.text)}</li>`).join('') : `<li class="meta">${esc(quiet.join('; '))}</li>`;
  const acc = d.verdict.accuracy === null ? '—' : `${(100 * d.verdict.accuracy).toFixed(1)}%${d.verdict.source === 'train batches' ? ' (train)' : ''}`;
  return `<tr data-run="${esc(d.run)}"><td>${esc(d.run)}</td><td class="${verdictClass(d)}" title="${esc(d.verdict.text)}">${verdictWord(d)}</td><td>${acc}</td><td><ul class="findings">${what}</ul></td></tr>`;
}

/** The section, for the runs of a page (in any order). */
export function diagnosisSection(ds: readonly RunDiagnosis[]): string {
  if (ds.length === 0) return '';
  if (ds.length === 1) {
    const d = ds[0];
    const findings = d.findings.map((f) => `<li>${esc(f.text)}</li>`).join('');
    const notes = d.lines.filter((l) => !d.findings.some((f) => f.text === l));
    return `<section id="what-is-wrong"><h2>What is wrong</h2>
<p class="verdict ${verdictClass(d)}"><b>${esc(d.headline)}</b></p>
${findings ? `<ul class="findings">${findings}</ul>` : ''}${notes.length ? `<p class="meta">${notes.map(esc).join('<br>')}</p>` : ''}
${rulesHtml()}</section>`;
  }
  const sorted = byConcern(ds);
  const failing = ds.filter((d) => d.verdict.failing === true).length, flagged = ds.filter((d) => d.findings.length > 0).length;
  const head = '<thead><tr><th>run</th><th>verdict</th><th>accuracy</th><th>what is wrong (in order of onset)</th></tr></thead>';
  const first = sorted.slice(0, FIRST_ROWS).map(row).join(''), rest = sorted.slice(FIRST_ROWS);
  return `<section id="what-is-wrong"><h2>What is wrong</h2>
<p><b>${failing} of ${ds.length} runs failing</b>; ${flagged} with a finding. Failing runs first; pick a run below its charts for all it says.</p>
<table class="diagnoses">${head}<tbody>${first}</tbody></table>
${rest.length ? `<details class="more-runs"><summary>${rest.length} more run${rest.length > 1 ? 's' : ''}</summary><table class="diagnoses">${head}<tbody>${rest.map(row).join('')}</tbody></table></details>` : ''}
${rulesHtml()}</section>`;
}

/** Style of the section: compact, so it fits the first screen. */
export const DIAGNOSIS_STYLE = `<style>
#what-is-wrong h2{margin-top:14px}#what-is-wrong .verdict{font-size:15px;margin:6px 0}
#what-is-wrong ul.findings{margin:2px 0;padding-left:18px}#what-is-wrong td:first-child{white-space:nowrap}#what-is-wrong table.diagnoses td{padding:2px 8px}
#what-is-wrong table.diagnoses ul.findings{padding-left:14px}#what-is-wrong details{margin:4px 0}
</style>`;
