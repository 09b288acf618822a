import chalk from 'chalk';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { buildReport } from '../api.js';
import { diagnosisLines, fmtDuration, ProgressLine, Warnings, type Out } from './ui.js';
import { byConcern } from '../page/diagnosis-html.js';
import type { ReportProgress } from '../report/index.js';
import { example } from './help.js';
import { msg } from '../messages.js';
import { GROUPS, MIN_RUNS } from '../study/study.js';
import { GROUP_KEYS } from '../read/settings.js';

interface ReportArgs {
  traces: string[];
  out?: string;
  force: boolean;
  open: boolean;
  images: boolean;
  json: boolean;
  reference?: string;
  by?: string;
}


export function builder(y: Argv) {
  return y
    .positional('traces', { type: 'string', array: true, demandOption: true, describe: '.arrow traces, or folders of them (a sweep)' })
    .option('out', { type: 'string', describe: 'output folder [default: report/ beside the input: in its folder, or in the deepest folder holding all inputs]' })
    .option('force', { type: 'boolean', default: false, describe: 'replace an index.html probe did not write (its own earlier report is replaced anyway)' })
    .option('open', { type: 'boolean', default: false, describe: 'open index.html in the default browser' })
    .option('images', { type: 'boolean', default: true, describe: 'also write each chart as .svg and .png (--no-images to skip)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the verdicts as JSON' })
    .option('reference', { type: 'string', requiresArg: true, describe: 'a CSV of published accuracies (columns: combination, mean, sd; optional bn or variant, seed1, seed2, …): the runs set beside them' })
    .option('by', { type: 'string', describe: `keep runs of other settings apart: verdicts and charts per value of these, comma-separated (${GROUP_KEYS.join(', ')})` })
    .example(...example('$0 report runs/', 'every trace in the folder → runs/report/'))
    .example(...example('$0 report a.arrow b.arrow --out report/ --open', 'chosen traces, then open the page'))
    .example(...example('$0 report study/ --reference published.csv', 'final accuracy per combination beside the published figures'))
    .example(...example('$0 report runs/ --by lr,epochs', 'one verdict per learning rate and number of epochs'));
}

const PHASES = {
  read: (n: number) => `read ${n} trace${n === 1 ? '' : 's'}`,
  render: (n: number) => `rendered ${n} chart${n === 1 ? '' : 's'} as .svg and .png`,
  write: () => 'wrote the page and verdicts.json',
} as const;

export async function handler(argv: ArgumentsCamelCase<ReportArgs>): Promise<void> {
  const out: Out = { err: process.stderr, quiet: argv.json };
  const warnings = new Warnings(out);
  const line = new ProgressLine(out);
  let phase: { name: ReportProgress['phase'] | null; total: number; t0: number } = { name: null, total: 0, t0: 0 };
  const r = await buildReport(argv.traces, {
    out: argv.out, force: argv.force, noImages: !argv.images, reference: argv.reference, ...(argv.by ? { by: argv.by.split(',') } : {}),
    onWarning: (w) => { line.clear(); warnings.warn(w); },
    onProgress: (p, at) => {
      // a redrawn status line on a terminal; elsewhere (logs, CI) a line as each phase ends, so a
      // bad input still prints one line: its error
      if (out.err.isTTY) return line.status(p);
      if (out.quiet || at.phase === phase.name) return;
      if (phase.name) out.err.write(`${PHASES[phase.name](phase.total)} (${fmtDuration((performance.now() - phase.t0) / 1000)})\n`);
      phase = { name: at.phase, total: at.total, t0: performance.now() };
    },
  }).finally(() => line.clear());
  warnings.flush();
  if (argv.json) {
    process.stdout.write(JSON.stringify({ out: r.out, runs: r.runs, truncated: r.truncated, inFlight: r.inFlight, diverged: r.diverged, stopped: r.stopped, health: r.health, prevalences: r.prevalences, hypotheses: r.hypotheses.map(({ runs: _r, ...h }) => h), attribution: r.attribution, interventions: r.interventions, reproduction: r.reproduction, diagnoses: r.diagnoses }, null, 2) + '\n');
  } else {
    const color = { supported: chalk.green, 'not supported': chalk.red, inconclusive: chalk.yellow } as const;
    const lines = [`${chalk.bold('probe report')} · ${r.runs} run(s)${r.truncated ? `, ${r.truncated} truncated` : ''}${r.inFlight ? `, ${r.inFlight} in flight (left out of the verdicts)` : ''}${r.diverged ? `, ${r.diverged} diverged` : ''}${r.stopped ? `, ${r.stopped} stopped by a rule` : ''}`];
    lines.push(...whatIsWrong(r.health));
    const several = new Set(r.hypotheses.map((x) => x.variant)).size > 1;
    // the study's verdicts are about its MLP: a folder of other models has none to print, and no advice to sweep
    if (r.study) for (const [v, note] of Object.entries(r.studyShort)) lines.push(chalk.yellow(`short runs${several ? ` [${v}]` : ''}: ${note}`));
    if (r.study) for (const p of r.prevalences) {
      if (p.targetRuns === 0 && p.controls === 0) continue;
      const rule = `accuracy at or near chance${p.failBelow === null ? '; no controls' : `, or below ${(100 * p.failBelow).toFixed(1)}%`}`;
      lines.push(`prevalence${several ? ` [${p.variant}]` : ''}: ${p.targetFailing} of ${p.targetRuns} target runs fail (${rule}), controls ${p.controlsFailing} of ${p.controls}`);
    }
    if (r.study) for (const h of r.hypotheses) {
      const variant = several ? ` [${h.variant}]` : '';
      lines.push(`${h.id}${variant} ${color[h.verdict](h.verdict.toUpperCase())} — ${h.title}`);
      lines.push(chalk.dim(`   ${h.reason}`));
      // a claim with nothing to show is already named in the reason
      for (const c of h.claims) if (c.statistic !== '—') lines.push(chalk.dim(`   ${c.id} ${c.text}: ${c.statistic} (${c.n}; ${c.rule})`));
    }
    // the groups as --combos patterns
    const patterns = (g: { readonly hidden: readonly string[]; readonly output: readonly string[] }) => g.hidden.flatMap((h) => g.output.map((o) => `*-${h}-${o}`)).join(',');
    if (r.study && r.hypotheses.every((h) => h.claims.every((c) => c.statistic === '—'))) lines.push(msg.verdictNeeds(MIN_RUNS, patterns(GROUPS.target), patterns(GROUPS.C1), patterns(GROUPS.C2)));
    if (r.study) for (const g of r.attribution) {
      const cs = g.causes.map((c) => `${c.cause} ${c.interval ? `${c.interval.estimate.toFixed(3)} [${c.interval.lo.toFixed(3)}, ${c.interval.hi.toFixed(3)}]` : Number.isFinite(c.mean) ? c.mean.toFixed(3) : '—'}`).join(', ');
      lines.push(`errors covered${several ? ` [${g.variant}]` : ''}, ${g.group} (${g.runs} runs, error rate ${(100 * g.errors).toFixed(1)}%): ${cs}`);
    }
    if (r.study && r.reproduction) {
      const x = r.reproduction;
      lines.push(`reproduction (${x.file}): ${x.judged === 0 ? `no combination judged against a published spread (${x.rows.length} without one, or without runs here)` : `${x.within} of ${x.judged} combination(s) within the published spread${x.judged < x.rows.length ? ` (${x.rows.length - x.judged} not judged)` : ''}`}${x.rho ? `; Spearman ρ ${x.rho.estimate.toFixed(2)} [${x.rho.lo.toFixed(2)}, ${x.rho.hi.toFixed(2)}] over ${x.rhoN}` : ''}`);
      for (const row of x.rows) lines.push(chalk.dim(`   ${row.combo}${row.variant !== 'mnist' ? ` [${row.variant}]` : ''}: ours ${row.mean === null ? '— (no run)' : `${(100 * row.mean).toFixed(2)}%${row.sd !== null ? ` ± ${(100 * row.sd).toFixed(2)}` : ''} (${row.runs} runs${row.failing !== null ? `, ${(100 * row.failing).toFixed(0)}% failing` : ''})`} · published ${(100 * row.published.mean).toFixed(2)}%${row.published.sd !== null ? ` ± ${(100 * row.published.sd).toFixed(2)}` : ''}${row.within === null ? '' : row.within ? ' · within' : ' · outside'}`));
    }
    if (r.study) for (const iv of r.interventions) for (const x of iv.readings) lines.push(`${iv.intervention.name} pairs (${iv.pairs.length}, ${iv.dataset}) · ${x.hypothesis}: ${x.reading} — ${x.why}`);
    lines.push(`page ${chalk.cyan(join(r.out, 'index.html'))} (${(r.htmlBytes / 1e6).toFixed(1)} MB) · ${r.panels.length} charts as .vl.json${argv.images ? ', .svg, .png' : ''} · verdicts.json`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (argv.open) openInBrowser(join(r.out, 'index.html'), warnings);
}

/** The runs' diagnoses: every run when few, else the count and the runs that fail or have a finding (at most ten). */
function whatIsWrong(health: Parameters<typeof byConcern>[0]): string[] {
  if (health.length <= 3) return health.flatMap((d) => diagnosisLines(d));
  const concern = byConcern(health).filter((d) => d.verdict.failing === true || d.findings.length > 0);
  const failing = health.filter((d) => d.verdict.failing === true).length;
  const out = [`${chalk.bold('diagnosis')} ${failing} of ${health.length} runs failing, ${concern.length} failing or with a finding${concern.length > 10 ? ' (the first ten below; all on the page)' : ''}`];
  for (const d of concern.slice(0, 10)) out.push(`  ${d.verdict.failing ? chalk.red(d.headline) : d.headline}${d.findings.length ? chalk.yellow(` — ${d.findings[0].text}${d.findings.length > 1 ? ` (+${d.findings.length - 1} more)` : ''}`) : ''}`);
  return out;
}

function openInBrowser(file: string, warnings: Warnings): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(cmd, [file], { detached: true, stdio: 'ignore' });
  child.on('error', () => { warnings.warn(`could not run ${cmd} to open ${file}; open it yourself`); warnings.flush(); });
  child.unref();
}
