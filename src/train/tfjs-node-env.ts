/**
 * The environment tfjs-node loads with. TensorFlow reads these once, when its library loads, so
 * they are set just before; `--backend auto` also keys its cached timings on them, and must know
 * them before it decides whether to load tfjs-node at all: hence the effective values, the user's
 * own or these defaults, without loading anything.
 */
const DEFAULTS = {
  // The step's ops are small (batch 32): TensorFlow's default pools (a thread per core, twice)
  // spend more on handing work over than they gain. Measured here (2 shared cores, under load):
  // CPU per probed study step 8.2–9.4 ms with one thread each, 10.8–14 ms with two intra-op
  // threads, 11.6–12.1 ms with two of each.
  TF_NUM_INTRAOP_THREADS: '1',
  TF_NUM_INTEROP_THREADS: '1',
  // TensorFlow logs an INFO line about CPU features on load; we already say which backend runs.
  TF_CPP_MIN_LOG_LEVEL: '1',
  // With oneDNN on, TensorFlow 2.21 logs "oneDNN custom operations are on" (and absl's
  // "All log messages before absl::InitializeLog()") straight to stderr before any log level
  // applies. Off, nothing is printed; the step's time did not change measurably (its eager ops
  // are dispatch-bound, README's tfjs-node table).
  TF_ENABLE_ONEDNN_OPTS: '0',
} as const;

/** Each variable as tfjs-node will see it: the user's value if set, else probe's default. */
export function tfjsNodeEnv(): Record<keyof typeof DEFAULTS, string> {
  return Object.fromEntries(Object.entries(DEFAULTS).map(([k, v]) => [k, process.env[k] ?? v])) as Record<keyof typeof DEFAULTS, string>;
}

/** Sets the defaults the user has not set, before tfjs-node loads. */
export function applyTfjsNodeEnv(): void {
  for (const [k, v] of Object.entries(DEFAULTS)) process.env[k] ??= v;
}
