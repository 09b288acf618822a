/**
 * The bench's wasm figures: the wasm peak (a register-only multiply-add loop), each product of the
 * study's step in GFLOP/s with the own kernels (relaxed SIMD and plain SIMD) and with tfjs's
 * XNNPACK `matMul`, and a whole `probe run` process against PyTorch's, interleaved.
 * Rounds alternate the contenders so a burst of load from other processes hits all alike;
 * each figure is the best round (the least disturbed), each ratio taken within the run.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/train/backend.js';
import { backData, dense, KernelSet, productsModule, useKernelSet, weightGradSgd } from '../src/train/kernels/products.js';
import { defaultMnistDir } from '../src/train/data.js';

interface Shape { readonly product: string; readonly M: number; readonly K: number; readonly N: number }

/** The step's products at batch 32 (forward for every layer, backward data to layers 2–3, weight gradients). */
const SHAPES: readonly Shape[] = [
  { product: 'forward W·x', M: 500, K: 784, N: 32 },
  { product: 'forward W·x', M: 256, K: 500, N: 32 },
  { product: 'forward W·x', M: 10, K: 256, N: 32 },
  { product: 'backward Wᵀ·du', M: 256, K: 500, N: 32 },
  { product: 'backward Wᵀ·du', M: 10, K: 256, N: 32 },
  { product: 'weight grad + SGD', M: 500, K: 784, N: 32 },
  { product: 'weight grad + SGD', M: 256, K: 500, N: 32 },
  { product: 'weight grad + SGD', M: 10, K: 256, N: 32 },
];

export interface ProductRow extends Shape { readonly mflop: number; readonly relaxed: number; readonly simd: number; readonly xnnpack: number }
export interface ProductFigures { readonly peak: number; readonly peakSimd: number; readonly rows: readonly ProductRow[] }

const best = (xs: number[]) => Math.max(...xs);

/** GFLOP/s per product and the peak; needs the wasm backend. */
export async function measureProducts(rounds = 15): Promise<ProductFigures> {
  await selectBackend('wasm');
  const peakR = productsModule(KernelSet.relaxedSimd), peakS = productsModule(KernelSet.simd);
  const peaks: number[] = [], peaksS: number[] = [];
  const gf = (flop: number, fn: () => void, reps: number) => { fn(); const t = performance.now(); for (let i = 0; i < reps; i++) fn(); return (flop * reps) / ((performance.now() - t) * 1e6); };
  const data = SHAPES.map((s) => {
    const { M, K, N } = s;
    return {
      s,
      w: tf.randomUniform([M, K], -0.05, 0.05, 'float32', 1) as tf.Tensor2D,
      x: tf.randomUniform([K, N], -1, 1, 'float32', 2) as tf.Tensor2D,
      xb: tf.randomUniform([N, K], -1, 1, 'float32', 3) as tf.Tensor2D,
      b: tf.zeros([M, 1]) as tf.Tensor2D,
      d: tf.randomUniform([M, N], -1, 1, 'float32', 4) as tf.Tensor2D,
      v: tf.zeros([M, K]) as tf.Tensor2D,
      times: { relaxed: [] as number[], simd: [] as number[], xnnpack: [] as number[] },
    };
  });
  const run = (o: (typeof data)[number], path: 'own' | 'xnnpack') => {
    process.env.PROBE_WASM_PRODUCTS = path === 'own' ? '1' : '0';
    const out = o.s.product.startsWith('forward') ? [dense(o.w, o.x, o.b)]
      : o.s.product.startsWith('backward') ? [backData(o.w, o.d)]
        : (({ v, w, moments }) => [v, w, moments])(weightGradSgd(o.d, o.xb, o.w, o.v, 0.01, 0.5));
    tf.dispose(out);
  };
  for (let r = 0; r < rounds; r++) {
    peaks.push(gf(64 * 2e5, () => peakR.peak(2e5), 2));
    peaksS.push(gf(64 * 2e5, () => peakS.peak(2e5), 2));
    for (const set of [KernelSet.relaxedSimd, KernelSet.simd] as const) {
      useKernelSet(set);
      for (const o of data) o.times[set === KernelSet.relaxedSimd ? 'relaxed' : 'simd'].push(gf(2 * o.s.M * o.s.K * o.s.N, () => run(o, 'own'), 10));
    }
    for (const o of data) o.times.xnnpack.push(gf(2 * o.s.M * o.s.K * o.s.N, () => run(o, 'xnnpack'), 10));
  }
  delete process.env.PROBE_WASM_PRODUCTS;
  useKernelSet(KernelSet.relaxedSimd);
  const rows = data.map((o) => ({ ...o.s, mflop: (2 * o.s.M * o.s.K * o.s.N) / 1e6, relaxed: best(o.times.relaxed), simd: best(o.times.simd), xnnpack: best(o.times.xnnpack) }));
  data.forEach((o) => tf.dispose([o.w, o.x, o.xb, o.b, o.d, o.v]));
  return { peak: best(peaks), peakSimd: best(peaksS), rows };
}

/** Wall time of a child process from spawn to exit; its last stdout line parsed as JSON. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ seconds: number; json: Record<string, unknown> | null }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', () => {
      let json: Record<string, unknown> | null = null;
      try { json = JSON.parse(out.trim().split('\n').pop() ?? ''); } catch { /* reported as missing */ }
      resolve({ seconds: (performance.now() - t0) / 1000, json });
    });
  });
}

export interface ProcessFigures { readonly probe: number[]; readonly torch: number[]; readonly torchVersion: string }

/**
 * `probe run relu-sigmoid-relu` for 1,000 steps of batch 32 and an evaluation of 1,000 test
 * images, all probes on their default schedules (as `probe run` records: loss and unit activity
 * every step, the others every 10th), wasm — against bench/torch_run.py doing the same in PyTorch at
 * one thread; alternated `repeats` times.
 */
export async function measureProcesses(root: string, python: string, repeats = 3): Promise<ProcessFigures> {
  const probe: number[] = [], torch: number[] = [];
  let torchVersion = 'unknown';
  for (let r = 0; r < repeats; r++) {
    const out = mkdtempSync(join(tmpdir(), 'probe-bench-proc-'));
    const p = await timed(process.execPath, [join(root, 'bin', 'probe.js'), 'run', 'relu-sigmoid-relu', '--train-limit', '32000', '--test-limit', '1000', '--epochs', '1', '--backend', 'wasm', '--quiet', '--json', '--out', out]);
    rmSync(out, { recursive: true, force: true });
    if (p.json) probe.push(p.seconds);
    const t = await timed(python, [join(root, 'bench', 'torch_run.py'), defaultMnistDir(), '--steps', '1000', '--test', '1000', '--threads', '1'], { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' });
    if (t.json) { torch.push(t.seconds); torchVersion = String(t.json.torch); }
  }
  return { probe, torch, torchVersion };
}

export interface PairRate { readonly alone: number; readonly together: readonly number[] }
export interface PeakPair {
  /** GFLOP/s of the register-only loop */
  readonly peak: PairRate;
  /** GB/s of a SIMD read pass (wat/stats.js sumsq_max) over a buffer of this many MB, looped */
  readonly reads: readonly (PairRate & { readonly mb: number })[];
}

/**
 * What two sweep workers share, measured: the register-only peak loop and a SIMD read pass over
 * buffers of several sizes, each on one worker thread and then on two at once. The peak loop
 * touches no memory, so its ratio is the cores' own; the read passes show what the caches and
 * memory give two at once. Together they bound the throughput two runs can keep.
 */
export async function measurePeakPair(seconds = 1.5): Promise<PeakPair> {
  const { Worker } = await import('node:worker_threads');
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { setFlagsFromString } = require('node:v8');
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    const { mb, ms, file } = workerData;
    const pages = Math.ceil((mb * 2 ** 20 + 65536) / 65536) + 1;
    const memory = new WebAssembly.Memory({ initial: pages });
    const m = new WebAssembly.Instance(new WebAssembly.Module(require('node:fs').readFileSync(file)), { env: { memory } }).exports;
    const n = Math.floor((mb * 2 ** 20) / 4), f = new Float32Array(memory.buffer, 1024, n);
    for (let i = 0; i < n; i++) f[i] = (i % 7) * 0.25;
    const once = () => (mb ? m.sumsq_max(1024, n, 64) : m.peak(2e5));
    once();
    parentPort.postMessage('ready');
    parentPort.once('message', () => {
      const t0 = performance.now(); let k = 0;
      while (performance.now() - t0 < ms) { once(); k++; }
      const s = (performance.now() - t0) / 1000;
      parentPort.postMessage(mb ? (k * n * 4) / s / 1e9 : (64 * 2e5 * k) / s / 1e9);
    });`;
  const file = new URL('../src/train/kernels/products.wasm', import.meta.url).pathname;
  const run = async (k: number, mb: number): Promise<number[]> => {
    const ws = Array.from({ length: k }, () => new Worker(src, { eval: true, workerData: { file, ms: seconds * 1000, mb } }));
    await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
    const out = ws.map((w) => new Promise<number>((r) => w.once('message', r)));
    ws.forEach((w) => w.postMessage('go'));
    const rates = await Promise.all(out);
    await Promise.all(ws.map((w) => w.terminate()));
    return rates;
  };
  const pair = async (mb: number): Promise<PairRate> => ({ alone: Math.max(...(await run(1, mb)), ...(await run(1, mb))), together: await run(2, mb) });
  const peak = await pair(0);
  const reads = [];
  // 0.25 MB: within a core's own caches; 6 MB: the study's first layer (W and its velocity, twice) in flight; 128 MB: memory
  for (const mb of [0.25, 6, 128]) reads.push({ mb, ...(await pair(mb)) });
  return { peak, reads };
}
