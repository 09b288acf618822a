/**
 * `runSweep`: the study's grid (combinations × seeds) as one resumable job.
 *
 *   plan     resolve every run's config; look at what the folder already holds: a complete trace
 *            with the same config hash is skipped, a truncated one is redone, one with other
 *            settings is a conflict (an error unless `force`)
 *   run      a pool of worker processes (worker.ts), one run each at a time, each writing its
 *            own trace; progress is reported for the sweep as a whole
 *   index    index.arrow rebuilt from the traces' footers as runs finish and at the end
 *
 * A diverged run is finished like a complete one: rerunning it would diverge again.
 * Killing a sweep loses only the runs in flight: their traces are truncated and are redone when
 * the same command runs again.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { configHash, resolveConfig, runName, type RunConfig, type RunInput } from '../config.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { ensureWritableDir } from '../fs-util.js';
import { msg } from '../messages.js';
import { readTraceMeta } from '../trace/reader.js';
import { isFinished, type RunStatus } from '../trace/schema.js';
import { grid, shardOf, type GridPoint, type Shard } from './grid.js';
import { writeIndex, type IndexRow } from './sweep-index.js';
import type { FromWorker, ToWorker } from './worker.js';

export type PlanAction = 'run' | 'skip' | 'redo' | 'conflict';

export interface PlannedRun extends GridPoint {
  readonly run: string;
  readonly path: string;
  readonly config: RunConfig;
  readonly action: PlanAction;
  /** why: the existing trace's status or hash */
  readonly why: string;
}

export interface SweepOptions {
  readonly combos: readonly string[];
  readonly seeds: readonly number[];
  /** flags passed to every run (combo and seed are set per run) */
  readonly run: Omit<RunInput, 'combo' | 'seed'>;
  readonly out: string;
  readonly workers?: number;
  readonly shard?: Shard | null;
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  readonly listener?: SweepListener;
}

export interface SweepListener {
  onPlan?(plan: readonly PlannedRun[]): void;
  onProgress?(p: SweepProgress): void;
  onRunDone?(r: { run: PlannedRun; status: string; testAcc: number | null; seconds: number; done: number; total: number }): void;
  onRunFailed?(r: { run: PlannedRun; message: string }): void;
}

export interface SweepProgress {
  readonly done: number;
  readonly total: number;
  readonly running: readonly { readonly run: string; readonly fraction: number; readonly epoch: number; readonly epochs: number }[];
  /** seconds, from the mean duration of the runs finished so far */
  readonly eta: number | null;
}

export interface SweepResult {
  readonly out: string;
  readonly planned: number;
  readonly skipped: number;
  readonly completed: number;
  readonly failed: readonly { readonly run: string; readonly message: string }[];
  readonly interrupted: boolean;
  /** runs that neither finished nor failed: interrupted, or left when every worker died */
  readonly notRun: number;
  readonly index: readonly IndexRow[];
}

export function planSweep(opts: Pick<SweepOptions, 'combos' | 'seeds' | 'run' | 'out' | 'shard' | 'force'>): PlannedRun[] {
  const points = opts.shard ? shardOf(grid(opts.combos, opts.seeds), opts.shard) : grid(opts.combos, opts.seeds);
  return points.map((p) => {
    const config = resolveConfig({ ...opts.run, combo: p.combo, seed: p.seed });
    const run = runName(config);
    const path = join(resolve(opts.out), `${run}.arrow`);
    if (!existsSync(path)) return { ...p, run, path, config, action: 'run', why: 'new' };
    let action: PlanAction, why: string;
    try {
      const m = readTraceMeta(path);
      const same = m.config.configHash === configHash(config);
      if (!same) { action = 'conflict'; why = `config hash ${String(m.config.configHash)} ≠ ${configHash(config)}`; }
      else if (m.truncated) { action = 'redo'; why = `${m.status}${m.recovered ? ', damaged' : ''}`; }
      else { action = 'skip'; why = m.status; }
    } catch (e) {
      action = 'conflict';
      why = (e as Error).message;
    }
    if (action === 'conflict' && opts.force) { action = 'redo'; why += ' (--force)'; }
    return { ...p, run, path, config, action, why };
  });
}

const WORKER = new URL('./worker.js', import.meta.url);

export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  const out = resolve(opts.out);
  ensureWritableDir(out);
  const plan = planSweep(opts);
  const conflicts = plan.filter((p) => p.action === 'conflict');
  if (conflicts.length) throw new ProbeError(ErrorCode.exists, msg.sweepConflict(conflicts[0].path, conflicts.length));
  opts.listener?.onPlan?.(plan);
  const todo = plan.filter((p) => p.action === 'run' || p.action === 'redo');
  const skipped = plan.length - todo.length;
  const failed: { run: string; message: string }[] = [];
  let completed = 0, interrupted = false;
  const durations: number[] = [];
  const running = new Map<number, { run: string; fraction: number; epoch: number; epochs: number }>();
  const nWorkers = Math.max(1, Math.min(opts.workers ?? availableParallelism(), todo.length));
  let next = 0, lastIndex = performance.now();
  const report = () => {
    const mean = durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : null;
    const left = todo.length - completed - failed.length;
    opts.listener?.onProgress?.({
      done: skipped + completed + failed.length, total: plan.length, running: [...running.values()],
      eta: mean === null ? null : (mean * Math.max(0, left - [...running.values()].reduce((s, r) => s + r.fraction, 0))) / nWorkers,
    });
  };

  if (todo.length > 0) {
    await new Promise<void>((resolveAll) => {
      let alive = 0;
      const children: ChildProcess[] = [];
      const current = new Map<ChildProcess, number>();
      const stopAll = () => { interrupted = true; for (const c of children) if (c.connected) c.send({ type: 'stop' } satisfies ToWorker); };
      opts.signal?.addEventListener('abort', stopAll, { once: true });
      const dispatch = (child: ChildProcess) => {
        if (interrupted || next >= todo.length) { if (child.connected) child.send({ type: 'stop' } satisfies ToWorker); return; }
        const id = next++;
        const p = todo[id];
        current.set(child, id);
        running.set(id, { run: p.run, fraction: 0, epoch: 0, epochs: p.config.epochs });
        child.send({ type: 'run', id, input: { ...p.config, combo: p.combo, seed: p.seed }, out, force: p.action === 'redo' } as ToWorker);
        report();
      };
      for (let w = 0; w < nWorkers; w++) {
        const child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
        let stderr = '';
        child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
        alive++;
        children.push(child);
        child.on('message', (m: FromWorker) => {
          if (m.type === 'ready') return dispatch(child);
          if (m.type === 'progress') {
            const r = running.get(m.id);
            if (r) running.set(m.id, { ...r, epoch: m.epoch, fraction: (m.epoch - 1 + m.step / m.steps) / m.epochs });
            return report();
          }
          running.delete(m.id);
          current.delete(child);
          const p = todo[m.id];
          if (m.type === 'done') {
            if (isFinished(m.status as RunStatus)) {
              completed++;
              durations.push(m.seconds);
              opts.listener?.onRunDone?.({ run: p, status: m.status, testAcc: m.testAcc, seconds: m.seconds, done: skipped + completed + failed.length, total: plan.length });
            }
          } else {
            failed.push({ run: p.run, message: m.message });
            opts.listener?.onRunFailed?.({ run: p, message: m.message });
          }
          if (performance.now() - lastIndex > 30_000) { writeIndex(out); lastIndex = performance.now(); }
          dispatch(child);
        });
        child.on('exit', (code, signal) => {
          // a worker that dies mid-run (out of memory, killed) fails that run, not the sweep
          const id = current.get(child);
          if (id !== undefined) {
            const why = `worker exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
            failed.push({ run: todo[id].run, message: why });
            opts.listener?.onRunFailed?.({ run: todo[id], message: why });
            running.delete(id);
            current.delete(child);
          }
          if (--alive === 0) resolveAll();
        });
      }
    });
  }
  const index = writeIndex(out);
  return { out, planned: plan.length, skipped, completed, failed, interrupted, notRun: todo.length - completed - failed.length, index };
}
