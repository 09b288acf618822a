/**
 * When the CLI colours its output, by the conventions users set once for every tool:
 *
 *   1. a `--color` / `--no-color` flag (the last one given) decides;
 *   2. else FORCE_COLOR (force-color.org): `0` or `false` turns colour off, any other value on
 *      (`2`, `3`: 256 colours, truecolor); as in Node, it takes precedence over NO_COLOR;
 *   3. else NO_COLOR (no-color.org): present and not empty turns colour off;
 *   4. else TERM=dumb turns it off;
 *   5. else each stream is coloured only if it is a terminal: stdout and stderr are decided
 *      apart, so `probe … 2> log` keeps the log free of escape codes while stdout stays coloured.
 */
import { chalkStderr, default as chalk, supportsColor, supportsColorStderr } from 'chalk';

export type ColorLevel = 0 | 1 | 2 | 3;

interface Stream {
  readonly isTTY?: boolean;
}

/** The colour level for one stream; `detected` is what the terminal supports (chalk's probe). */
export function colorLevel(stream: Stream, args: readonly string[], env: Readonly<Record<string, string | undefined>>, detected: number): ColorLevel {
  const on = (level: number): ColorLevel => Math.min(3, Math.max(1, level)) as ColorLevel;
  const flag = args.filter((a) => a === '--color' || a === '--no-color').at(-1);
  if (flag === '--no-color') return 0;
  if (flag === '--color') return on(detected);
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') {
    if (force === '0' || force === 'false') return 0;
    const n = Number.parseInt(force, 10);
    return on(n >= 2 ? n : detected);
  }
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  if (env.TERM === 'dumb') return 0;
  return stream.isTTY ? on(detected) : 0;
}

/** Sets the colour of `chalk` (stdout) and `chalkStderr` (stderr) for this process's output. */
export function setupColor(args: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): void {
  chalk.level = colorLevel(process.stdout, args, env, supportsColor ? supportsColor.level : 0);
  chalkStderr.level = colorLevel(process.stderr, args, env, supportsColorStderr ? supportsColorStderr.level : 0);
}
