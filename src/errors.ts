/**
 * One error type for everything a user can get wrong. The CLI prints {@link ProbeError.flagMessage}
 * as a single line and exits with {@link ProbeError.exitCode}; the stack is shown only with
 * `--verbose`. Message text is built in `messages.ts`, so every wording lives in one place; the
 * settings it names are said in library terms in `message` (`{ force: true }`, `options.lr`) and
 * as flags in `flagMessage` (`--force`, `--lr`).
 */
import { flagTerms, libraryTerms } from './messages.js';

export const ErrorCode = {
  usage: 'E_USAGE',
  config: 'E_CONFIG',
  data: 'E_DATA',
  io: 'E_IO',
  exists: 'E_EXISTS',
  trace: 'E_TRACE',
  /** a trace written in another format version */
  traceVersion: 'E_TRACE_VERSION',
  /** another process is computing this run */
  busy: 'E_BUSY',
  backend: 'E_BACKEND',
  interrupted: 'E_INTERRUPTED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class ProbeError extends Error {
  override readonly name = 'ProbeError';
  /** Exit status for the CLI: 2 for anything the user can fix, 130 for Ctrl-C. */
  readonly exitCode: number;
  /** the message with the settings it names said as command-line flags */
  declare readonly flagMessage: string;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(libraryTerms(message), options);
    // not enumerable: a library user's uncaught error shows its message once, in library terms
    Object.defineProperty(this, 'flagMessage', { value: flagTerms(message), enumerable: false });
    this.exitCode = code === ErrorCode.interrupted ? 130 : 2;
  }
}

export function isProbeError(e: unknown): e is ProbeError {
  return e instanceof ProbeError;
}
