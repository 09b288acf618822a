/**
 * One error type for everything a user can get wrong. The CLI prints `message` as a single line
 * and exits with {@link ProbeError.exitCode}; the stack is shown only with `--verbose`.
 * Message text is built in `messages.ts`, so every wording lives in one place.
 */
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
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.exitCode = code === ErrorCode.interrupted ? 130 : 2;
  }
}

export function isProbeError(e: unknown): e is ProbeError {
  return e instanceof ProbeError;
}
