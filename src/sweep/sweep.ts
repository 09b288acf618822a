/**
 * `runSweep`: the study's grid (combinations × seeds) as one resumable job.
 *
 *   plan     resolve every run's config; look at what the folder already holds: a complete trace
 *            with the same config hash is skipped, a truncated one resumed from its last checkpoint
 *            (redone when it cannot be), an unreadable one redone, one with
 *            other settings is a conflict (an error unless `force`), a run whose lock another
 *            process holds is waited for (busy): done when its holder finishes it, retaken when
 *            its holder dies first — a sweep ends with every run of its grid finished or failed
 *   run      a pool of worker processes (worker.ts), one run each at a time, each writing its
 *            own trace; progress is reported for the sweep as a whole. A worker claims each run's
 *            lock (trace/run-lock.ts) and looks again: two sweeps on one folder, or a retried
 *            cluster task, never compute one run twice
 *   index    _index.feather rebuilt from the traces' footers as runs finish and at the end
 *
 * A diverged run is finished like a complete one: rerunning it would diverge again; so is a run a
 * rule stopped (--stop-when): rerunning it would stop again.
 * Killing a sweep loses only the steps of the runs in flight since their last checkpoint: the same
 * command resumes their traces from there.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { configHash, resolveConfig, runName, type RunConfig, type RunInput } from '../config.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { ensureWritableDir } from '../fs-util.js';
import { msg } from '../messages.js';
import { checkOptions, optionKeys } from '../options.js';
import { existingTrace } from '../trace/existing.js';
import { lockHolder } from '../trace/run-lock.js';
import { isFinished, type RunStatus } from '../trace/schema.js';
import { grid, shardOf, type GridPoint, type Shard } from './grid.js';
import { writeIndex, type IndexRow } from './sweep-index.js';
import type { FromWorker, RunJob, ToWorker } from './job.js';

/** `busy`: another process holds the run's lock (another sweep, or an earlier try of this task) */
export type PlanAction = 'run' | 'skip' | 'redo' | 'conflict' | 'busy';

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
  /** batch-norm settings: every (combination, seed) is run with each (default: `run.bn` alone) */
  readonly bns?: readonly string[];
  /** interventions on the output layer: every (combination, seed, bn) is run with each (default: `run.intervention` alone) */
  readonly interventions?: readonly string[];
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
  /** a run another process finished (found finished when its turn came, or after waiting for its holder) */
  onRunElsewhere?(r: { run: PlannedRun; why: string }): void;
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
  /** runs another process finished: the sweep waits for runs another process holds, and retakes
   * those whose holder dies before finishing them */
  readonly elsewhere: number;
  /** runs that neither finished nor failed: interrupted, or left when every worker died */
  readonly notRun: number;
  readonly index: readonly IndexRow[];
}

export function planSweep(opts: Pick<SweepOptions, 'combos' | 'seeds' | 'run' | 'out' | 'shard' | 'force' | 'bns' | 'interventions'>): PlannedRun[] {
  // variants innermost: a run and its batch-norm and intervention twins are neighbours in the canonical order
  const bns = opts.bns?.length ? opts.bns : [opts.run.bn];
  const ivs = opts.interventions?.length ? opts.interventions : [opts.run.intervention];
  const all = grid(opts.combos, opts.seeds).flatMap((p) => bns.flatMap((bn) => ivs.map((intervention) => ({ ...p, bn, intervention }))));
  const points = opts.shard ? shardOf(all, opts.shard) : all;
  return points.map((p) => {
    const config = resolveConfig({ ...opts.run, bn: p.bn, intervention: p.intervention, combo: p.combo, seed: p.seed }, 'runSweep: options.run');
    const run = runName(config);
    const path = join(resolve(opts.out), `${run}.arrow`);
    const holder = lockHolder(path);
    if (holder) return { ...p, run, path, config, action: 'busy', why: `being computed by pid ${holder.pid} on ${holder.host}` };
    const e = existingTrace(path, configHash(config));
    let action: PlanAction, why: string;
    switch (e.kind) {
      case 'absent': action = 'run'; why = 'new'; break;
      case 'unreadable': action = 'redo'; why = e.why; break; // nothing in it to lose
      case 'foreign': action = 'conflict'; why = e.why; break;
      case 'trace':
        if (!e.sameConfig) { action = 'conflict'; why = `config hash ${e.meta.config.configHash ?? 'none'} ≠ ${configHash(config)}`; }
        else if (!e.finished) { action = 'redo'; why = `${e.meta.status}${e.meta.recovered ? ', damaged' : ''}`; }
        else { action = 'skip'; why = e.meta.status; }
    }
    if (action === 'conflict' && opts.force) { action = 'redo'; why += ' (--force)'; }
    return { ...p, run, path, config, action, why };
  });
}

/** Workers a sweep starts: as asked (default one per core), never more than runs pending. */
export function workerCount(requested: number | undefined, pending: number): number {
  return Math.min(requested ?? availableParallelism(), pending);
}

const WORKER = new URL('./worker.js', import.meta.url);
/** How often an idle worker looks again at the runs another process holds. */
const WAIT_POLL_MS = 500;

/** The message that hands a planned run to a worker: its config as planned, typed end to end. */
export function jobFor(p: PlannedRun, id: number, out: string, force: boolean): RunJob {
  return { type: 'run', id, config: p.config, out, force };
}

const SWEEP_OPTION_KEYS = optionKeys<SweepOptions>({ combos: 1, seeds: 1, run: 1, bns: 1, interventions: 1, out: 1, workers: 1, shard: 1, force: 1, signal: 1, listener: 1 });

export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  checkOptions('runSweep', opts, SWEEP_OPTION_KEYS);
  const out = resolve(opts.out);
  ensureWritableDir(out);
  const plan = planSweep(opts);
  const conflicts = plan.filter((p) => p.action === 'conflict');
  if (conflicts.length) throw new ProbeError(ErrorCode.exists, msg.sweepConflict(conflicts[0].path, conflicts.length));
  opts.listener?.onPlan?.(plan);
  // runs another process holds come last: waited for, and retaken if their holder dies
  const todo = [...plan.filter((p) => p.action === 'run' || p.action === 'redo'), ...plan.filter((p) => p.action === 'busy')];
  const toRun = todo.length - plan.filter((p) => p.action === 'busy').length;
  const skipped = plan.filter((p) => p.action === 'skip').length;
  const failed: { run: string; message: string }[] = [];
  let completed = 0, interrupted = false;
  // finished by another process while this sweep waited for it
  let elsewhere = 0;
  /** runs held by another live process: ids into todo */
  const waiting = new Set<number>(Array.from({ length: todo.length - toRun }, (_, k) => toRun + k));
  const done = () => skipped + elsewhere + completed + failed.length;
  const durations: number[] = [];
  const running = new Map<number, { run: string; fraction: number; epoch: number; epochs: number }>();
  const nWorkers = Math.max(1, workerCount(opts.workers, Math.max(1, toRun)));
  let next = 0, lastIndex = performance.now();
  const report = () => {
    const mean = durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : null;
    const left = todo.length - completed - failed.length - elsewhere;
    opts.listener?.onProgress?.({
      done: done(), total: plan.length, running: [...running.values()],
      eta: mean === null ? null : (mean * Math.max(0, left - [...running.values()].reduce((s, r) => s + r.fraction, 0))) / nWorkers,
    });
  };

  if (todo.length > 0) {
    await new Promise<void>((resolveAll) => {
      let alive = 0;
      const children: ChildProcess[] = [];
      const current = new Map<ChildProcess, number>();
      const idle = new Map<ChildProcess, NodeJS.Timeout>();
      const stopAll = () => {
        interrupted = true;
        for (const t of idle.values()) clearTimeout(t);
        idle.clear();
        for (const c of children) if (c.connected) c.send({ type: 'stop' } satisfies ToWorker);
      };
      opts.signal?.addEventListener('abort', stopAll, { once: true });
      const give = (child: ChildProcess, id: number) => {
        const p = todo[id];
        current.set(child, id);
        running.set(id, { run: p.run, fraction: 0, epoch: 0, epochs: p.config.epochs });
        child.send(jobFor(p, id, out, opts.force ?? false));
        report();
      };
      /** A held run whose holder is gone: finished by it (done), or free to retake (its id). */
      const freed = (): number | null => {
        for (const id of waiting) {
          const p = todo[id];
          if (lockHolder(p.path)) continue;
          waiting.delete(id);
          const e = existingTrace(p.path, configHash(p.config));
          if (e.kind === 'trace' && e.sameConfig && e.finished) {
            elsewhere++;
            opts.listener?.onRunElsewhere?.({ run: p, why: `${e.meta.status} by another process` });
            continue;
          }
          return id;
        }
        return null;
      };
      const dispatch = (child: ChildProcess) => {
        idle.delete(child);
        const stop = () => { if (child.connected) child.send({ type: 'stop' } satisfies ToWorker); };
        if (interrupted) return stop();
        if (next < toRun) return give(child, next++);
        const id = freed();
        if (id !== null) return give(child, id);
        // a run another process holds: wait for its holder (it finishes the run, or dies and the run is retaken)
        if (waiting.size > 0 && child.connected) idle.set(child, setTimeout(() => dispatch(child), WAIT_POLL_MS));
        else stop();
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
              opts.listener?.onRunDone?.({ run: p, status: m.status, testAcc: m.testAcc, seconds: m.seconds, done: done(), total: plan.length });
            }
          } else if (m.type === 'elsewhere') {
            if (m.finished) {
              elsewhere++;
              opts.listener?.onRunElsewhere?.({ run: p, why: m.why });
            } else waiting.add(m.id);
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
          const t = idle.get(child);
          if (t) clearTimeout(t);
          idle.delete(child);
          if (--alive === 0) resolveAll();
        });
      }
    });
  }
  const index = writeIndex(out);
  return { out, planned: plan.length, skipped, completed, failed, interrupted, elsewhere, notRun: todo.length - completed - failed.length - elsewhere, index };
}
