import chalk from 'chalk';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { exportTraces } from '../api.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { isDirectory } from '../fs-util.js';
import { ProgressLine, Warnings, type Out } from './ui.js';
import { example } from './help.js';

interface ExportArgs {
  traces: string[];
  parquet?: string;
  csv?: string;
  force: boolean;
}


export function builder(y: Argv) {
  return y
    .positional('traces', { type: 'string', array: true, demandOption: true, describe: '.arrow traces, folders of them (a sweep), or a sweep index' })
    .option('parquet', { type: 'string', requiresArg: true, describe: 'write a Parquet file (DuckDB, Polars, pandas, Spark)' })
    .option('csv', { type: 'string', requiresArg: true, describe: 'write a CSV file' })
    .option('force', { type: 'boolean', default: false, describe: 'replace an existing file' })
    .example(...example('$0 export runs/ --parquet runs.parquet', 'then in DuckDB: select * from \'runs.parquet\''))
    .example(...example('$0 export runs/a.arrow runs/b.arrow --csv ab.csv', 'chosen traces as CSV'));
}

export async function handler(argv: ArgumentsCamelCase<ExportArgs>): Promise<void> {
  const given = [argv.parquet !== undefined && 'parquet', argv.csv !== undefined && 'csv'].filter(Boolean);
  if (given.length !== 1) throw new ProbeError(ErrorCode.usage, msg.exportTarget(given.length));
  const format = argv.parquet !== undefined ? 'parquet' : 'csv';
  const file = (argv.parquet ?? argv.csv)!;
  if (isDirectory(file)) throw new ProbeError(ErrorCode.config, msg.isFolder(`--${format}`, file, `a file name for the table, e.g. runs.${format}`));
  const out: Out = { err: process.stderr, quiet: false };
  const warnings = new Warnings(out);
  const line = new ProgressLine(out);
  const r = await exportTraces(argv.traces, file, {
    format, force: argv.force,
    onWarning: (w) => { line.clear(); warnings.warn(w); },
    onProgress: (p) => line.status(p),
  }).finally(() => line.clear());
  warnings.flush();
  process.stdout.write(`${chalk.green('✔')} ${r.runs} run(s), ${r.rows.toLocaleString('en-US')} rows → ${chalk.cyan(r.file)} (${(r.bytes / 1e6).toFixed(1)} MB ${format})\n`);
}
