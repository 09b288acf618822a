/**
 * The `probe` command line. Each command is a module exporting `{builder, handler}`, listed in
 * {@link COMMANDS} with its usage line; handlers are one call into the library API (api.ts).
 * Only the module of the command given is loaded, and only commands that train load tfjs, so
 * `probe --help`, `inspect` and `compare` start fast. Errors the user can fix print one line and
 * exit 2; anything else is a bug and prints its stack with `--verbose`.
 */
import { chalkStderr } from 'chalk';
import yargs, { type Argv } from 'yargs';
import { ErrorCode, isProbeError, ProbeError } from '../errors.js';
import { msg } from '../messages.js';
import { didYouMean } from '../options.js';
import { interruptedExitCode } from './interrupt.js';
import { setupColor } from './color.js';

interface CommandModule {
  builder(y: Argv): Argv<unknown>;
  handler(argv: never): void | Promise<void>;
}

interface CommandEntry {
  readonly command: string;
  readonly describe: string;
  readonly load: () => Promise<CommandModule>;
}

/** Every command, in the order `--help` lists them: its usage line, and how to load its module. */
const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  run: { command: 'run [combo]', describe: 'Train one combination (or a saved tfjs model) with probes; write its trace as an Arrow file', load: () => import('./run.js') as Promise<CommandModule> },
  inspect: { command: 'inspect <trace>', describe: 'Show a trace: schema, run metadata, status, and a per-epoch summary', load: () => import('./inspect.js') as Promise<CommandModule> },
  report: { command: 'report <traces..>', describe: 'Turn traces into a dashboard that tests H1 (dead output ReLU) and H2 (sigmoid saturation)', load: () => import('./report.js') as Promise<CommandModule> },
  sweep: { command: 'sweep', describe: 'Run the grid of combinations × seeds (resumable, parallel, shardable across machines)', load: () => import('./sweep.js') as Promise<CommandModule> },
  compare: { command: 'compare <traces..>', describe: 'Set saved runs side by side: config differences, accuracy, probe figures, where a metric diverges', load: () => import('./compare.js') as Promise<CommandModule> },
  export: { command: 'export <traces..>', describe: 'Write traces as one tidy table (Parquet or CSV) with each run\'s combination, seed and activations as columns', load: () => import('./export.js') as Promise<CommandModule> },
  watch: { command: 'watch [dir]', describe: 'Serve a live dashboard of a folder of traces while runs and sweeps train', load: () => import('./watch.js') as Promise<CommandModule> },
};
import { rawFlagValues, restoreNumericText } from './flags.js';
import { example, helpWidth } from './help.js';

/** yargs' own command that prints the shell completion script. */
const COMPLETION = 'completion';

/** Flags that take no value; any other `--flag` takes the next argument. */
const SWITCHES = new Set(['--watch', '--allow-remote', '--force', '--quiet', '--json', '--open', '--images', '--no-images', '--verbose', '--help', '--version', '--color', '--no-color']);

/**
 * `--shard -1/3` would reach yargs as the short flags -1, -/, -3 ("Unknown argument: 1"): a value
 * that starts with '-' but is not a number is attached as `--shard=-1/3`, so the option's own
 * check names it.
 */
function attachDashValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i], next = args[i + 1];
    if (a.startsWith('--') && !a.includes('=') && !SWITCHES.has(a) && next !== undefined && /^-[^-]/.test(next) && Number.isNaN(Number(next))) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** yargs' "Unknown argument: epocs" as a line that names the flag most likely meant. */
function unknownFlags(given: readonly string[], y: Argv, command: string): string {
  // getOptions() is yargs API missing from @types/yargs 17; its keys hold camelCase aliases too
  const keys = Object.keys((y as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
  const flags = keys.filter((k) => k.length > 1 && !/[A-Z]/.test(k) && k !== '$0');
  // should yargs name a kebab flag in its camelCase form too, keep the kebab one
  const names = given.filter((g) => !/[A-Z]/.test(g) || !given.includes(g.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)));
  return msg.unknownFlag(names, names.map((n) => didYouMean(n, flags)), command);
}

/**
 * yargs renders the whole help text right after it starts a command's handler, only to keep it
 * in case the handler asks for it; none of ours does (errors are one line, .fail below), and
 * `--help` renders it afresh. That render took 80–115 ms of every `probe run`'s start-up, on the
 * way to the first training step (measured here: handler start to the next macrotask, 4 runs
 * each way). yargs has no option for it: its usage instance's cacheHelpMessage is made a no-op,
 * where yargs has one (an internal API; should it move, the help is cached again, no harm).
 */
function skipHelpCache(y: Argv): void {
  const internals = y as unknown as { getInternalMethods?(): { getUsageInstance?(): { cacheHelpMessage?: () => void } | undefined } };
  const usage = internals.getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

export async function main(args: readonly string[]): Promise<void> {
  const verbose = args.includes('--verbose');
  setupColor(args);
  const fail = (text: string, code: number) => {
    process.stderr.write(`${chalkStderr.red('error')} ${text}\n`);
    process.exitCode = code;
  };
  const commands = [...Object.keys(COMMANDS), COMPLETION];
  // the shell's completion asks `probe --get-yargs-completions probe <words…>`: the command is the word after the name
  const completing = args[0] === '--get-yargs-completions';
  const first = completing ? args[2] : args.find((a) => !a.startsWith('-'));
  if (!completing && first !== undefined && args.indexOf(first) === 0 && !commands.includes(first)) {
    const near = didYouMean(first, commands);
    return fail(`unknown command '${first}'${near ? ` (did you mean '${near}'?)` : ''}: use ${commands.join(', ')} (probe --help explains each)`, 2);
  }
  try {
    const chosen = first !== undefined && Object.prototype.hasOwnProperty.call(COMMANDS, first) ? first : undefined;
    const mod = chosen === undefined ? null : await COMMANDS[chosen].load();
    const parsed = attachDashValues(args);
    const y = yargs(parsed);
    skipHelpCache(y);
    // the others are listed by usage line only: their modules are not loaded
    for (const [name, c] of Object.entries(COMMANDS)) {
      if (name === chosen && mod) y.command(c.command, c.describe, mod.builder, mod.handler as (argv: unknown) => void | Promise<void>);
      else y.command(c.command, c.describe);
    }
    await y
      .scriptName('probe')
      .usage('$0 <command> [options]\n\nFind out why a network fails to learn: train with probes that record, per step and layer,\nsaturation, dead ReLUs and gradient sizes into Arrow traces.')
      // A repeated option overrides the earlier one (scripts append overrides), as yargs'
      // duplicate-arguments-array:false would do, but that setting also cut `compare a b` down to
      // its last file: only options that are not arrays are collapsed, here.
      .middleware((argv) => {
        // getOptions() is yargs API missing from @types/yargs 17
        const options = (y as unknown as { getOptions(): { array: string[]; number: string[] } }).getOptions();
        const arrays = new Set(options.array);
        for (const [key, value] of Object.entries(argv)) {
          if (Array.isArray(value) && key !== '_' && !arrays.has(key)) argv[key] = value.at(-1);
        }
        restoreNumericText(argv, options.number, rawFlagValues(parsed, SWITCHES));
        // '' resolves to the current folder: never what was meant
        for (const [flag, kind] of [['out', 'folder'], ['data-dir', 'folder'], ['html', 'file'], ['csv', 'file'], ['parquet', 'file']] as const) if (argv[flag] === '') throw new ProbeError(ErrorCode.usage, msg.emptyPath(`--${flag}`, kind));
      }, true)
      .option('verbose', { type: 'boolean', default: false, describe: 'show stack traces of errors' })
      .option('color', { type: 'boolean', describe: 'colour the output; --no-color: never [default: only on a terminal; FORCE_COLOR and NO_COLOR are honoured]' })
      .completion(COMPLETION, 'Print a completion script for bash or zsh: probe completion >> ~/.bashrc (zsh: >> ~/.zshrc)')
      .demandCommand(1, `give a command: ${commands.join(', ')}`)
      .strict()
      .recommendCommands()
      .example(...example('$0 run relu-sigmoid-relu', "train the study's failing combination, trace in runs/"))
      .example(...example('$0 inspect runs/relu-sigmoid-relu_s1.arrow', 'what a trace holds'))
      .example(...example('$0 report runs/', 'dashboards and H1/H2 verdicts for every trace in runs/'))
      .epilogue('Traces are Apache Arrow IPC files: pyarrow.ipc.open_file(path).read_all() reads them.')
      .wrap(helpWidth())
      .fail((message, err) => {
        // yargs' own usage errors (YError: 'Not enough arguments following: epochs') are the user's
        if (err && err.name !== 'YError') throw err;
        const unknown = /^Unknown arguments?: (.+)$/.exec(message.trim());
        if (unknown && chosen) throw new ProbeError(ErrorCode.usage, unknownFlags(unknown[1].split(', '), y, chosen));
        throw Object.assign(new Error(message.replace(/\s*\n\s*/g, ' ').trim()), { usage: true });
      })
      .parseAsync();
  } catch (e) {
    if (isProbeError(e)) {
      const code = e.code === ErrorCode.interrupted ? interruptedExitCode() : e.exitCode;
      return fail(e.flagMessage + (verbose && e.cause ? `\n${String((e.cause as Error).stack ?? e.cause)}` : ''), code);
    }
    if ((e as { usage?: boolean }).usage) return fail(`${(e as Error).message} (see probe --help)`, 2);
    fail(verbose ? String((e as Error).stack ?? e) : `${(e as Error).message ?? e} (internal error; rerun with --verbose for the stack)`, 1);
  }
}
