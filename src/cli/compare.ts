import chalk, { chalkStderr } from 'chalk';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { collectTraces, compareHtml, compareTraces, divergenceHeading, divergenceText, parseInteger, type Cell, type Comparison } from '../api.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { isDirectory, writeAtomic } from '../fs-util.js';
import { diagnosisLines, table, num } from './ui.js';
import { example } from './help.js';
import { GROUP_KEYS } from '../read/settings.js';

interface CompareArgs {
  traces: string[];
  combos?: string;
  metric: string;
  layer: string | number;
  epochs?: string;
  tol: string | number;
  html?: string;
  json: boolean;
  force: boolean;
  by?: string;
}


export function builder(y: Argv) {
  return y
    .positional('traces', { type: 'string', array: true, demandOption: true, describe: '.arrow traces, folders of them, or a sweep index' })
    .option('combos', { type: 'string', describe: "keep combinations matching these patterns ('*' = any)" })
    .option('metric', { type: 'string', default: 'loss', describe: 'metric followed step by step for divergence and --html' })
    .option('layer', { type: 'number', requiresArg: true, default: 0, describe: 'layer of --metric (0 = whole network)' })
    .option('epochs', { type: 'string', describe: 'epochs to tabulate, comma-separated [default: the last]' })
    .option('tol', { type: 'number', requiresArg: true, default: 0.05, describe: 'absolute difference in --metric that counts as diverged' })
    .option('by', { type: 'string', describe: `group runs by these settings, comma-separated (${GROUP_KEYS.join(', ')}) [default: every setting but the seed]` })
    .option('html', { type: 'string', describe: 'also write a Vega-Lite overlay page to this file' })
    .option('force', { type: 'boolean', default: false, describe: 'replace an existing --html file' })
    .option('json', { type: 'boolean', default: false, describe: 'print the comparison as JSON' })
    .example(...example('$0 compare runs/relu-sigmoid-relu_s1.arrow runs/relu-sigmoid-tanh_s1.arrow', ''))
    .example(...example("$0 compare runs/ --combos 'relu-sigmoid-*' --metric dead_rows --layer 3 --html cmp.html", 'seeds grouped as mean ± sd'))
    .example(...example('$0 compare runs/ --by lr', 'one group per learning rate, whatever else differs'));
}

const fmtCell = (c: Cell, pctMetric: boolean) => {
  if (c.mean === null) return '—';
  if (pctMetric) return c.n > 1 && c.sd !== null ? `${(100 * c.mean).toFixed(2)} ± ${(100 * c.sd).toFixed(2)}%` : `${(100 * c.mean).toFixed(2)}%`;
  return c.n > 1 && c.sd !== null ? `${num(c.mean)} ± ${num(c.sd)}` : num(c.mean);
};

export function render(c: Comparison): string {
  const out: string[] = [];
  const heads = c.groups.map((g, i) => (i === 0 ? `${g.label} (ref)` : g.label));
  out.push(chalk.bold(`probe compare · ${c.groups.length} group(s) of runs`));
  // what is wrong with each run leads; the tables say by how much the runs differ
  for (const d of c.diagnoses) out.push(...diagnosisLines(d));
  if (c.configDiffs.length) {
    out.push('', 'config differences', table(['setting', ...heads], c.configDiffs.map((d) => [d.key, ...d.values.map((v, i) => (i > 0 && v !== d.values[0] ? chalk.yellow(v) : v))])));
  } else {
    out.push('', chalk.dim('same settings apart from the combination and seed'));
  }
  const rows = c.rows.map((r) => {
    const ref = r.cells[0].mean;
    const isPct = r.metric === 'test_acc';
    const cells = r.cells.map((cell, i) => {
      const s = fmtCell(cell, isPct);
      if (i === 0 || cell.mean === null || ref === null) return s;
      const diff = cell.mean - ref;
      if (Math.abs(diff) <= c.tol * Math.max(1, Math.abs(ref))) return s;
      const better = r.metric === 'test_acc' ? diff > 0 : r.metric === 'test_loss' ? diff < 0 : null;
      return better === null ? chalk.yellow(s) : better ? chalk.green(s) : chalk.red(s);
    });
    return [r.section, r.label, ...cells];
  });
  out.push('', table(['', 'figure', ...heads], rows));
  out.push('', divergenceHeading(c));
  for (const d of c.divergence) {
    const t = divergenceText(d, c.tol, (v) => num(v));
    out.push(`  ${d.group}: ${t.kind === 'same' ? chalk.green(t.text) : t.kind === 'diverges' ? chalk.yellow(t.text) : chalk.dim(t.text)}`);
  }
  const trunc = c.groups.filter((g) => g.truncated > 0);
  const div = c.groups.filter((g) => g.diverged > 0);
  const stop = c.groups.filter((g) => g.stopped > 0);
  if (stop.length) out.push(chalk.yellow(`note: ${stop.map((g) => `${g.label} has ${g.stopped} run(s) a rule stopped (their last epoch cut short)`).join('; ')}`));
  if (div.length) out.push(chalk.red(`note: ${div.map((g) => `${g.label} has ${g.diverged} diverged run(s)`).join('; ')}`));
  if (trunc.length) out.push(chalk.yellow(`note: ${trunc.map((g) => `${g.label} has ${g.truncated} truncated run(s)`).join('; ')}`));
  return out.join('\n');
}

export async function handler(argv: ArgumentsCamelCase<CompareArgs>): Promise<void> {
  if (argv.html !== undefined && isDirectory(argv.html)) throw new ProbeError(ErrorCode.config, msg.isFolder('--html', argv.html, 'a file name for the page, e.g. compare.html'));
  const layer = parseInteger('--layer', argv.layer, 0, 0);
  const tol = Number(argv.tol);
  if (!(tol >= 0)) throw new ProbeError(ErrorCode.config, msg.notInRange('--tol', argv.tol, 'a number ≥ 0'));
  const epochs = argv.epochs ? argv.epochs.split(',').map((e) => parseInteger('--epochs', e.trim(), 0, 1)) : null;
  const c = compareTraces(collectTraces(argv.traces, (w) => process.stderr.write(`${chalkStderr.yellow('warning')} ${w}\n`)), { metric: argv.metric, layer, tol, epochs, combos: argv.combos ?? null, by: argv.by ? argv.by.split(',') : null });
  if (argv.html) {
    const html = await compareHtml(c);
    if (!argv.force && existsSync(argv.html)) throw new ProbeError(ErrorCode.exists, msg.fileExists(argv.html));
    try {
      writeAtomic(argv.html, html);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
      if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EIO') throw new ProbeError(ErrorCode.io, msg.writeFailed(argv.html, code, existsSync(argv.html) ? `${argv.html} is as it was` : 'no page was left'), { cause });
      throw new ProbeError(ErrorCode.io, msg.outDirNotWritable(dirname(resolve(argv.html)), code, '--html'), { cause });
    }
  }
  for (const w of c.warnings) process.stderr.write(`${chalkStderr.yellow('warning')} ${w}\n`);
  if (argv.json) {
    const { series: _s, ...rest } = c;
    void _s;
    process.stdout.write(JSON.stringify(rest, null, 1) + '\n');
  } else {
    process.stdout.write(render(c) + (argv.html ? `\noverlay ${chalk.cyan(argv.html)}` : '') + '\n');
  }
}
