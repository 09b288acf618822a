import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendName } from '../src/train/backend.js';
import type { ProbeValues } from '../src/probes/probe.js';
import type { Batch } from '../src/train/engine.js';
import { rng } from '../src/train/rng.js';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const FIXTURES = join(ROOT, 'fixtures', 'mnist-tiny');
export const BIN = join(ROOT, 'bin', 'probe.js');

export function tmp(prefix = 'probe-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

let switching: Promise<unknown> = Promise.resolve();

/**
 * Selects a backend, one switch at a time: tfjs drops (returns false for) an async backend
 * initialization that another setBackend overtakes, which under load made wasm 'unavailable'.
 */
export function useBackend(name: BackendName = 'wasm'): Promise<void> {
  const next = switching.then(() => selectBackend(name));
  switching = next.catch(() => {});
  return next.then(() => {});
}

/** A random batch: inputs roughly like normalized MNIST, labels uniform. */
export function randomBatchData(B: number, dim: number, classes: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const r = rng(seed, 'test-batch');
  const x = Float32Array.from({ length: B * dim }, () => (r.float() < 0.8 ? -0.4242 : 2.8 * r.float()));
  const labels = Int32Array.from({ length: B }, () => r.int(classes));
  return { x, labels };
}

export function toBatch(x: Float32Array, labels: Int32Array, dim: number, classes: number): Batch {
  const B = labels.length;
  const xf = new Float32Array(dim * B);
  for (let s = 0; s < B; s++) for (let f = 0; f < dim; f++) xf[f * B + s] = x[s * dim + f];
  const onehot = new Float32Array(B * classes);
  labels.forEach((c, s) => (onehot[s * classes + c] = 1));
  return {
    size: B,
    xf: tf.tensor2d(xf, [dim, B]),
    xb: tf.tensor2d(x, [B, dim]),
    onehot: tf.tensor2d(onehot, [B, classes]),
    labels: tf.tensor1d(labels, 'int32'),
  };
}

export function disposeBatch(b: Batch): void {
  tf.dispose([b.xf, b.xb, b.onehot, b.labels]);
}

/** Largest |a−b| / (atol + rtol·|b|) over the arrays; ≤ 1 means close. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, rtol = 1e-4, atol = 1e-6): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
  }
  return worst;
}

/**
 * The three ways a kernel can run without tfjs-node: host kernels over wasm memory, host kernels
 * over cpu arrays, and the tf-op composites used on backends without host memory (tfjs-node).
 */
export interface Mode {
  readonly name: string;
  enter(): Promise<void>;
  leave(): Promise<void>;
  /** why this mode cannot run here; tests pass it to node:test's `skip` */
  readonly skip?: string;
}

export const MODES: readonly Mode[] = [
  { name: 'wasm, host kernels', enter: () => useBackend('wasm'), leave: async () => {} },
  { name: 'wasm, tf-op composites', enter: async () => { await useBackend('wasm'); process.env.PROBE_HOST_KERNELS = '0'; }, leave: async () => { delete process.env.PROBE_HOST_KERNELS; } },
  { name: 'cpu, host kernels', enter: () => useBackend('cpu'), leave: () => useBackend('wasm') },
];

let nodeSkip: Promise<string | undefined> | null = null;

/**
 * Whether tfjs-node loads in this process. scripts/test.sh runs scripts/tfjs-node-offline.sh
 * first: when that could not make tfjs-node, it passes the reason (PROBE_TFJS_NODE_WHY) and the
 * node tests skip with it; when it did (PROBE_TFJS_NODE=ready), a backend that then fails to
 * load is a failure, not a skip.
 */
function nodeSkipReason(): Promise<string | undefined> {
  nodeSkip ??= (async () => {
    const why = process.env.PROBE_TFJS_NODE_WHY;
    if (why) return why;
    try {
      await useBackend('node');
      return undefined;
    } catch (e) {
      if (process.env.PROBE_TFJS_NODE === 'ready') throw e;
      return `${(e as Error).message} (scripts/tfjs-node-offline.sh builds it offline)`;
    } finally {
      await useBackend('wasm');
    }
  })();
  return nodeSkip;
}

/** MODES, then tfjs-node (tf-op composites over TensorFlow's C library), skipped when it does not load. */
export async function allModes(): Promise<readonly Mode[]> {
  const skip = await nodeSkipReason();
  return [...MODES, { name: 'node (tfjs-node)', enter: () => useBackend('node'), leave: () => useBackend('wasm'), ...(skip ? { skip } : {}) }];
}

/**
 * Runs the `probe` binary in a new process, without colour, as a user's shell would (exit codes,
 * signals, what loading costs). `runCli` runs it in this process instead.
 */
export function probeCli(args: readonly string[], opts: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', ...opts.env } });
}

/**
 * Runs the CLI in this process (no new Node, no tfjs load per call) and returns what it printed
 * and the exit code it set. For exit paths that end the process (signals), spawn the binary.
 */
export async function runCli(args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const { main } = await import('../src/cli/main.js');
  let stdout = '', stderr = '';
  const out = process.stdout.write, err = process.stderr.write;
  const saved = process.exitCode;
  process.exitCode = 0;
  // The CLI writes strings; the test runner reports through these streams too, in buffers (its
  // serialized protocol): those must pass, or the results of tests are lost.
  process.stdout.write = ((c: string | Uint8Array, ...rest: never[]) => { if (typeof c !== 'string') return out.call(process.stdout, c, ...rest); stdout += c; return true; }) as typeof out;
  process.stderr.write = ((c: string | Uint8Array, ...rest: never[]) => { if (typeof c !== 'string') return err.call(process.stderr, c, ...rest); stderr += c; return true; }) as typeof err;
  try {
    await main(args);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  const status = Number(process.exitCode ?? 0);
  process.exitCode = saved;
  return { status, stdout, stderr };
}

/** A probe's values as the trace stores them (float32), whether computed on the host or on the device. */
export const valuesOf = (v: ProbeValues): number[] => Array.from(v instanceof tf.Tensor ? v.dataSync() : Float32Array.from(v));

/** The Python that scripts/python-env.sh prepared (pyarrow, and duckdb/polars/pandas when pip had them); npm test sets it. */
export const PYTHON = process.env.PROBE_PYTHON;

/** Whether {@link PYTHON} imports module `m` (a test that needs it skips, naming it, when not). */
export const hasPythonModule = (m: string): boolean => !!PYTHON && spawnSync(PYTHON, ['-c', `import ${m}`]).status === 0;

/** Runs `script` with {@link PYTHON} and `args`; its stdout parsed as JSON (a failed script fails the test with its stderr). */
export function pythonJson(script: string, ...args: string[]): any {
  const r = spawnSync(PYTHON!, ['-c', script, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}
