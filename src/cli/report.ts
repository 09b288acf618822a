import chalk from 'chalk';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { buildReport } from '../api.js';
import { fmtDuration, ProgressLine, Warnings, type Out } from './ui.js';
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

/** Diagnosis lines the terminal prints for a report of models; the rest are in verdicts.json. */
const MAX_DIAGNOSES = 20;

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
    process.stdout.write(JSON.stringify({ out: r.out, runs: r.runs, truncated: r.truncated, inFlight: r.inFlight, diverged: r.diverged, prevalences: r.prevalences, hypotheses: r.hypotheses.map(({ runs: _r, ...h }) => h), attribution: r.attribution, interventions: r.interventions, reproduction: r.reproduction, diagnoses: r.diagnoses }, null, 2) + '\n');
  } else {
    const color = { supported: chalk.green, 'not supported': chalk.red, inconclusive: chalk.yellow } as const;
    const lines = [`${chalk.bold('probe report')} · ${r.runs} run(s)${r.truncated ? `, ${r.truncated} truncated` : ''}${r.inFlight ? `, ${r.inFlight} in flight (left out of the verdicts)` : ''}${r.diverged ? `, ${r.diverged} diverged` : ''}`];
    const several = new Set(r.hypotheses.map((x) => x.variant)).size > 1;
    if (r.modelsOnly) {
      // models someone else trained (tfjs, PyTorch): the generic diagnosis is the reading; the
      // study's hypotheses are about probe's MLP and get one line
      const shown = r.diagnoses.slice(0, MAX_DIAGNOSES);
      for (const d of shown) lines.push(`${chalk.bold('diagnosis')} ${d.text}`);
      if (r.diagnoses.length > shown.length) lines.push(chalk.dim(`   … and ${r.diagnoses.length - shown.length} more in verdicts.json`));
      lines.push(chalk.dim(msg.modelsOnly('')));
    }
    for (const p of r.modelsOnly ? [] : r.prevalences) {
      if (p.failBelow === null) continue;
      lines.push(`prevalence${several ? ` [${p.variant}]` : ''}: ${p.targetFailing} of ${p.targetRuns} target runs fail (accuracy below ${(100 * p.failBelow).toFixed(1)}%), controls ${p.controlsFailing} of ${p.controls}`);
    }
    for (const h of r.modelsOnly ? [] : r.hypotheses) {
      const variant = several ? ` [${h.variant}]` : '';
      lines.push(`${h.id}${variant} ${color[h.verdict](h.verdict.toUpperCase())} — ${h.title}`);
      lines.push(chalk.dim(`   ${h.reason}`));
      // a claim with nothing to show is already named in the reason
      for (const c of h.claims) if (c.statistic !== '—') lines.push(chalk.dim(`   ${c.id} ${c.text}: ${c.statistic} (${c.n}; ${c.rule})`));
    }
    // the groups as --combos patterns
    const patterns = (g: { readonly hidden: readonly string[]; readonly output: readonly string[] }) => g.hidden.flatMap((h) => g.output.map((o) => `*-${h}-${o}`)).join(',');
    if (!r.modelsOnly && r.hypotheses.every((h) => h.claims.every((c) => c.statistic === '—'))) lines.push(msg.verdictNeeds(MIN_RUNS, patterns(GROUPS.target), patterns(GROUPS.C1), patterns(GROUPS.C2)));
    for (const g of r.modelsOnly ? [] : r.attribution) {
      const cs = g.causes.map((c) => `${c.cause} ${c.interval ? `${c.interval.estimate.toFixed(3)} [${c.interval.lo.toFixed(3)}, ${c.interval.hi.toFixed(3)}]` : Number.isFinite(c.mean) ? c.mean.toFixed(3) : '—'}`).join(', ');
      lines.push(`errors covered${several ? ` [${g.variant}]` : ''}, ${g.group} (${g.runs} runs, error rate ${(100 * g.errors).toFixed(1)}%): ${cs}`);
    }
    if (r.reproduction) {
      const x = r.reproduction;
      lines.push(`reproduction (${x.file}): ${x.within} of ${x.judged} combination(s) within the published spread${x.rho ? `; Spearman ρ ${x.rho.estimate.toFixed(2)} [${x.rho.lo.toFixed(2)}, ${x.rho.hi.toFixed(2)}] over ${x.rhoN}` : ''}`);
      for (const row of x.rows) lines.push(chalk.dim(`   ${row.combo}${row.variant !== 'mnist' ? ` [${row.variant}]` : ''}: ours ${row.mean === null ? '— (no run)' : `${(100 * row.mean).toFixed(2)}%${row.sd !== null ? ` ± ${(100 * row.sd).toFixed(2)}` : ''} (${row.runs} runs${row.failing !== null ? `, ${(100 * row.failing).toFixed(0)}% failing` : ''})`} · published ${(100 * row.published.mean).toFixed(2)}%${row.published.sd !== null ? ` ± ${(100 * row.published.sd).toFixed(2)}` : ''}${row.within === null ? '' : row.within ? ' · within' : ' · outside'}`));
    }
    for (const iv of r.interventions) for (const x of iv.readings) lines.push(`${iv.intervention.name} pairs (${iv.pairs.length}, ${iv.dataset}) · ${x.hypothesis}: ${x.reading} — ${x.why}`);
    lines.push(`page ${chalk.cyan(join(r.out, 'index.html'))} (${(r.htmlBytes / 1e6).toFixed(1)} MB) · ${r.panels.length} charts as .vl.json${argv.images ? ', .svg, .png' : ''} · verdicts.json`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (argv.open) openInBrowser(join(r.out, 'index.html'), warnings);
}

function openInBrowser(file: string, warnings: Warnings): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(cmd, [file], { detached: true, stdio: 'ignore' });
  child.on('error', () => { warnings.warn(`could not run ${cmd} to open ${file}; open it yourself`); warnings.flush(); });
  child.unref();
}
