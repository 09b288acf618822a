/**
 * The attached-probe path's cost: the study's MLP (relu-sigmoid-relu, 784-500-256-10) as a
 * `tf.sequential`, trained with tfjs-layers' own `model.fit` on wasm, batch 32, real MNIST
 * batches: ms per step without probes, with every probe on every step (trace written), and on
 * every 10th step. Off and on alternate over rounds, after a warm-up epoch; medians are reported.
 * Run alone with `npm run bench -- --attach`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { attachProbes } from '../src/attach/session.js';
import { studySequential } from '../src/attach/study-model.js';
import { loadTensors } from '../src/attach/model-input.js';
import { selectBackend } from '../src/train/backend.js';
import { initParams } from '../src/train/model.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function attachSection(opts: { quick?: boolean; log?: (s: string) => void } = {}): Promise<string[]> {
  const log = opts.log ?? (() => {});
  try {
    await selectBackend('wasm');
  } catch (e) {
    return [`\nattached probes (model.fit): skipped, ${(e as Error).message}`];
  }
  const steps = opts.quick ? 40 : 200, rounds = opts.quick ? 2 : 4, batch = 32;
  const data = loadTensors({ trainLimit: steps * batch, testLimit: 1 });
  const acts = ['relu', 'sigmoid', 'relu'] as const;
  const model = studySequential(acts, initParams({ sizes: [784, 500, 256, 10], activations: acts }, 1), { lr: 0.01, momentum: 0.5 });
  const dir = mkdtempSync(join(tmpdir(), 'probe-bench-attach-'));
  const fit = async (every: number | null, k: number): Promise<number> => {
    const session = every === null ? null : attachProbes(model, { out: dir, name: `r${k}_${every}`, every });
    const t0 = performance.now();
    await model.fit(data.xTrain, data.yTrain, { batchSize: batch, epochs: 1, shuffle: false, verbose: 0, callbacks: session ? [session.callback] : [] });
    const ms = (performance.now() - t0) / steps;
    session?.close();
    return ms;
  };
  const modes = [null, 1, 10] as const;
  const times = new Map<number | null, number[]>(modes.map((m) => [m, []]));
  try {
    log(`attached probes: model.fit warm-up, then ${rounds} rounds × ${modes.length} modes × ${steps} steps (wasm)…`);
    await fit(null, -1);
    await fit(1, -1);
    for (let k = 0; k < rounds; k++) for (const m of modes) times.get(m)!.push(await fit(m, k));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    tf.dispose([data.xTrain, data.yTrain, data.xTest, data.yTest]);
    model.dispose();
  }
  const off = median(times.get(null)!), on = median(times.get(1)!), on10 = median(times.get(10)!);
  const pct = (x: number) => `${(100 * (x / off - 1)).toFixed(1)}%`;
  return [
    '',
    `attached probes with model.fit (study MLP relu-sigmoid-relu as tf.sequential, wasm, batch 32, ${steps} steps × ${rounds} rounds, median ms/step):`,
    '',
    '| fit without probes | all probes every step | overhead | every 10th step | overhead | target |',
    '|---|---|---|---|---|---|',
    `| ${off.toFixed(2)} | ${on.toFixed(2)} | ${pct(on)} | ${on10.toFixed(2)} | ${pct(on10)} | ≤ 15% (every step): ${on / off - 1 <= 0.15 ? 'met' : 'not met'} |`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await attachSection({ quick: process.argv.includes('--quick'), log: (s) => process.stderr.write(s + '\n') })) process.stdout.write(line + '\n');
}
