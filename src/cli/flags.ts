/**
 * Numeric flags are declared `type: 'number'`, so `--help` says `[number]`; yargs then turns
 * `--epochs abc` into NaN. The library's checks must name the value as typed ("--epochs abc: …",
 * not "NaN"), so the CLI hands it the text instead: the last value given to each flag, read from
 * the arguments as yargs saw them.
 */

/** `--flag value` and `--flag=value` → flag → the last value given (switches take none). */
export function rawFlagValues(args: readonly string[], switches: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (!a.startsWith('--') || switches.has(a)) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < args.length && !args[i + 1].startsWith('--')) out.set(a.slice(2), args[++i]);
  }
  return out;
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Puts back the typed text of every numeric flag that was given (both its kebab and camel key). */
export function restoreNumericText(argv: Record<string, unknown>, numeric: Iterable<string>, raw: ReadonlyMap<string, string>): void {
  for (const key of numeric) {
    const text = raw.get(key);
    if (text === undefined) continue;
    argv[key] = text;
    argv[camel(key)] = text;
  }
}
