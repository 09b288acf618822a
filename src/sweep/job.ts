/**
 * One sweep run inside a worker process: the messages between the sweep and its workers, and the
 * run itself, kept apart from the process glue (worker.ts) so that tests can drive it in-process.
 */
import { join } from 'node:path';
import { configHash, runName, type RunConfig } from '../config.js';
import { ErrorCode, isProbeError } from '../errors.js';
import { libraryTerms, msg } from '../messages.js';
import { existingTrace } from '../trace/existing.js';
import { acquireRunLock } from '../trace/run-lock.js';
import { loadDataset, type Dataset } from '../train/data.js';
import { runResolved } from '../experiment/run.js';

/**
 * A run as the sweep planned it: its resolved config, used as it is. Resolving a RunConfig again
 * as if it were a RunInput dropped its nested thresholds (--sigmoid-low… fell back to defaults).
 */
export interface RunJob {
  readonly type: 'run';
  readonly id: number;
  readonly config: RunConfig;
  readonly out: string;
  /** the sweep's --force (redo runs made with other settings) */
  readonly force: boolean;
}

export type ToWorker = RunJob | { readonly type: 'stop' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly id: number; readonly epoch: number; readonly epochs: number; readonly step: number; readonly steps: number }
  | { readonly type: 'done'; readonly id: number; readonly status: string; readonly testAcc: number | null; readonly seconds: number; readonly path: string }
  | { readonly type: 'failed'; readonly id: number; readonly message: string }
  /** another process holds the run's lock (`finished` false: the sweep waits for it, and retakes it
   * if its holder dies), or finished the run since the sweep planned it */
  | { readonly type: 'elsewhere'; readonly id: number; readonly why: string; readonly finished: boolean };

const datasets = new Map<string, Dataset>();

/** Runs one job, keeping datasets loaded between jobs; reports through `send`, never throws. */
export async function runJob(m: RunJob, send: (m: FromWorker) => void, signal: AbortSignal): Promise<void> {
  let release = () => {};
  try {
    const config = m.config;
    // the plan is only advice: another sweep may have claimed or finished the run since
    const path = join(m.out, `${runName(config)}.arrow`);
    const claim = acquireRunLock(path);
    if (!claim.acquired) {
      const h = claim.holder;
      send({ type: 'elsewhere', id: m.id, why: h ? `being computed by pid ${h.pid} on ${h.host}` : 'being computed by another process', finished: false });
      return;
    }
    release = () => claim.lock.release();
    const existing = existingTrace(path, configHash(config));
    if (existing.kind === 'trace' && existing.sameConfig && existing.finished) {
      send({ type: 'elsewhere', id: m.id, why: `${existing.meta.status} by another process`, finished: true });
      return;
    }
    if (existing.kind === 'trace' && !existing.sameConfig && !m.force) {
      send({ type: 'failed', id: m.id, message: libraryTerms(msg.sweepConflict(path, 1)) });
      return;
    }
    const key = JSON.stringify([config.dataset, config.dataDir, config.trainLimit, config.testLimit]);
    let data = datasets.get(key);
    if (!data) datasets.set(key, (data = loadDataset({ dataset: config.dataset, dataDir: config.dataDir, trainLimit: config.trainLimit, testLimit: config.testLimit })));
    let last = 0;
    const r = await runResolved(config, {
      // an unfinished trace of these settings is resumed from its last checkpoint (or redone when it
      // cannot be); one of other settings is replaced (the sweep's --force)
      out: m.out, force: existing.kind === 'trace' && !existing.sameConfig, locked: true, signal, dataset: data,
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
    const interrupted = isProbeError(e) && e.code === ErrorCode.interrupted;
    if (interrupted) send({ type: 'done', id: m.id, status: 'interrupted', testAcc: null, seconds: 0, path: '' });
    else send({ type: 'failed', id: m.id, message: isProbeError(e) ? e.message : String((e as Error).stack ?? e) });
  } finally {
    release();
  }
}
