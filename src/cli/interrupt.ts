import { constants } from 'node:os';

/**
 * Ctrl-C (or SIGTERM) once: the run finishes its step, closes the trace as interrupted and the
 * process exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM, as shells report).
 * Twice: exit at once (the trace still holds every checkpoint).
 */
let received: NodeJS.Signals | null = null;

/** The exit code for an interrupted command: the shell's 128 + number of the signal received. */
export function interruptedExitCode(): number {
  return 128 + (constants.signals[received ?? 'SIGINT'] ?? 2);
}

export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(128 + (constants.signals[sig] ?? 2));
    received = sig;
    process.stderr.write(`\n${sig}: stopping after this step (again to quit now)\n`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
