import { chalkStderr as chalk } from 'chalk';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { startWatch } from '../api.js';

interface WatchArgs {
  dir: string;
  host: string;
  port: string;
  allowRemote?: boolean;
}

export function builder(y: Argv) {
  return y
    .positional('dir', { type: 'string', default: 'runs', describe: 'folder of traces (probe run --out, probe sweep --out)' })
    .option('port', { type: 'string', default: '0', describe: 'port to listen on; 0 picks a free one (printed)' })
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on; only this machine can connect unless you choose another' })
    .option('allow-remote', { type: 'boolean', default: false, describe: 'allow a --host other machines can reach (the page has no login: anyone who can connect sees the runs)' })
    .example('$0 watch runs/', 'open the printed URL: runs in flight with progress and ETA, charts redrawn at each checkpoint')
    .example('$0 watch runs/ --port 6006', 'a fixed port (TensorBoard\'s, say)')
    .example('ssh -L 6006:127.0.0.1:6006 server', 'from a laptop: reach a server\'s view through SSH, no --allow-remote needed')
    .epilogue(
      'The page is the report\'s dashboard (probe report), live: it reads the traces, never writes or locks them, and asks nothing of the internet. ' +
      'Runs still training are charted as they grow and counted in the verdicts once they finish; a run whose process died is shown as abandoned (truncated); one a rule stopped (--stop-when), as stopped. ' +
      'On the page: smoothing and log scale for per-step charts, a run picker, each chart\'s ⋯ menu for PNG or SVG, and "data (CSV)" for its rows. ' +
      'probe run --watch and probe sweep --watch start the same view beside the work. Ctrl-C stops the server.');
}

/** `--watch` and its settings, for commands that do work (run, sweep). */
export function watchFlags<T>(y: Argv<T>) {
  return y
    .option('watch', { type: 'boolean', default: false, describe: 'serve the live view of --out while this works (as probe watch does); it stays open afterwards until Ctrl-C', group: 'Live view:' })
    .option('watch-port', { type: 'string', default: '0', describe: 'its port; 0 picks a free one (printed)', group: 'Live view:' })
    .option('watch-host', { type: 'string', default: '127.0.0.1', describe: 'its address (see probe watch --help)', group: 'Live view:' })
    .option('allow-remote', { type: 'boolean', default: false, describe: 'allow a --watch-host other machines can reach', group: 'Live view:' });
}

export interface WatchFlags {
  watch?: boolean;
  watchPort?: string;
  watchHost?: string;
  allowRemote?: boolean;
}

/**
 * The view beside the work, started before it: a run keeps its main thread busy, so the URL is
 * printed first, not whenever training yields. Closed at once if the work fails.
 */
export class LiveView {
  private constructor(private readonly mod: typeof import('../watch/beside.js'), private readonly server: import('../watch/beside.js').BesideServer) {}

  /** null without --watch; checks the flags before any work */
  static async of(argv: WatchFlags, dir: string): Promise<LiveView | null> {
    if (!argv.watch) return null;
    const mod = await import('../watch/beside.js');
    const opts = mod.checkWatchOptions({ host: argv.watchHost, port: argv.watchPort, allowRemote: argv.allowRemote });
    const server = await mod.watchInThread(dir, opts);
    process.stderr.write(`${chalk.bold('watch')} ${chalk.cyan(server.url)} ${chalk.dim(`(live view of ${dir})`)}\n`);
    return new LiveView(mod, server);
  }

  /** runs about to be computed: the page lists them as queued */
  plan(runs: readonly { readonly run: string; readonly file: string }[]): void {
    this.server.plan(runs);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  /** After the work: keep serving the finished page until Ctrl-C. */
  async stayOpen(): Promise<void> {
    process.stderr.write(`the live view stays open at ${chalk.cyan(this.server.url)} · Ctrl-C to stop it\n`);
    await this.mod.untilInterrupted();
    await this.server.close();
  }
}

export async function handler(argv: ArgumentsCamelCase<WatchArgs>): Promise<void> {
  const server = await startWatch(argv.dir, { host: argv.host, port: argv.port, allowRemote: argv.allowRemote === true });
  process.stdout.write(`${server.url}\n`);
  process.stderr.write(chalk.dim(`watching ${argv.dir} · Ctrl-C to stop\n`));
  await new Promise<void>((done) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); done(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
}
