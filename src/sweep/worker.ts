/**
 * A sweep worker: a child process that runs one `runExperiment` at a time on request, keeping the
 * dataset loaded between runs. It exits when told to stop or when its parent goes away (a killed
 * sweep leaves no orphan training), closing the run in flight as interrupted.
 */
import { join } from 'node:path';
import { configHash, resolveConfig, runName, type RunInput } from '../config.js';
import { isProbeError } from '../errors.js';
import { msg } from '../messages.js';
import { existingTrace } from '../trace/existing.js';
import { acquireRunLock } from '../trace/run-lock.js';
import { loadDataset, type Dataset } from '../train/data.js';
import { runExperiment } from '../train/run.js';

export type ToWorker =
  /** `force`: the sweep's --force (redo runs made with other settings) */
  | { readonly type: 'run'; readonly id: number; readonly input: RunInput; readonly out: string; readonly force: boolean }
  | { readonly type: 'stop' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly id: number; readonly epoch: number; readonly epochs: number; readonly step: number; readonly steps: number }
  | { readonly type: 'done'; readonly id: number; readonly status: string; readonly testAcc: number | null; readonly seconds: number; readonly path: string }
  | { readonly type: 'failed'; readonly id: number; readonly message: string }
  /** another process holds the run's lock, or finished the run since the sweep planned it */
  | { readonly type: 'elsewhere'; readonly id: number; readonly why: string };

const send = (m: FromWorker) => process.send?.(m);
let abort: AbortController | null = null;
const datasets = new Map<string, Dataset>();

async function run(m: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  abort = new AbortController();
  let release = () => {};
  try {
    const config = resolveConfig(m.input);
    // the plan is only advice: another sweep may have claimed or finished the run since
    const path = join(m.out, `${runName(config)}.arrow`);
    const claim = acquireRunLock(path);
    if (!claim.acquired) {
      const h = claim.holder;
      send({ type: 'elsewhere', id: m.id, why: h ? `being computed by pid ${h.pid} on ${h.host}` : 'being computed by another process' });
      return;
    }
    release = () => claim.lock.release();
    const existing = existingTrace(path, configHash(config));
    if (existing.kind === 'trace' && existing.sameConfig && existing.finished) {
      send({ type: 'elsewhere', id: m.id, why: `${existing.meta.status} by another process` });
      return;
    }
    if (existing.kind === 'trace' && !existing.sameConfig && !m.force) {
      send({ type: 'failed', id: m.id, message: msg.sweepConflict(path, 1) });
      return;
    }
    const key = JSON.stringify([config.dataset, config.dataDir, config.trainLimit, config.testLimit]);
    let data = datasets.get(key);
    if (!data) datasets.set(key, (data = loadDataset({ dataset: config.dataset, dataDir: config.dataDir, trainLimit: config.trainLimit, testLimit: config.testLimit })));
    let last = 0;
    const r = await runExperiment(config, {
      out: m.out, force: existing.kind === 'trace', locked: true, signal: abort.signal, dataset: data,
      listener: {
        onStepEnd: (p) => {
          const now = performance.now();
          if (now - last < 500 && p.stepInEpoch < p.stepsPerEpoch) return;
          last = now;
          send({ type: 'progress', id: m.id, epoch: p.epoch, epochs: config.epochs, step: p.stepInEpoch, steps: p.stepsPerEpoch });
        },
      },
    });
    send({ type: 'done', id: m.id, status: r.status, testAcc: r.epochs.at(-1)?.testAcc ?? null, seconds: r.seconds, path: r.path });
  } catch (e) {
    const interrupted = isProbeError(e) && e.code === 'E_INTERRUPTED';
    if (interrupted) send({ type: 'done', id: m.id, status: 'interrupted', testAcc: null, seconds: 0, path: '' });
    else send({ type: 'failed', id: m.id, message: isProbeError(e) ? e.message : String((e as Error).stack ?? e) });
  } finally {
    release();
    abort = null;
  }
}

let queue = Promise.resolve();
process.on('message', (m: ToWorker) => {
  if (m.type === 'stop') {
    abort?.abort();
    queue.then(() => process.exit(0));
    return;
  }
  queue = queue.then(() => run(m));
});
process.on('disconnect', () => {
  abort?.abort();
  queue.then(() => process.exit(0));
});
// Ctrl-C reaches the whole process group, and so does a scheduler's SIGTERM (Slurm's scancel or
// time limit signals every process of the job): the parent decides, stopping its workers after
// their step, so the run is reported interrupted, not failed because its worker was killed.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
send({ type: 'ready' });
