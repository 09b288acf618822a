/** Width of `--help` text: the terminal's, at most 110 columns (100 when not a terminal). */
export const helpWidth = (): number => Math.min(110, process.stdout.columns ?? 100);

/**
 * A `--help` example as a full-width line, its description a shell comment after it, or above it
 * when both do not fit on one line. yargs lays examples out in two columns and caps the command's
 * at half the width, so a long command wrapped its flags under each other in a narrow left column;
 * full width, it reads (and copies) as typed.
 */
export function example(cmd: string, what = ''): [string, string] {
  if (!what) return [cmd, ''];
  const line = `${cmd}   # ${what}`;
  // yargs indents examples by 2 and keeps a margin of 2
  return [line.replace('$0', 'probe').length + 4 <= helpWidth() ? line : `# ${what}\n${cmd}`, ''];
}
