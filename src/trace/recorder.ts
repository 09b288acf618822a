/**
 * The one recorder of a run's trace, whatever trains it: probe's own engine (experiment/run.ts)
 * and an attached tfjs model (attach/session.ts) hand it each probed step's values and each
 * epoch's figures; it owns everything a trace knows beyond them.
 *
 *   claim    the run's lock (run-lock.ts) and the replacement rule (nothing there: write; an
 *            unreadable file: redo it; a trace: refuse unless `force`; anything else: refuse)
 *   open     the file (TraceWriter) with its facts, config and fixed dictionaries — at once, or
 *            at the first row when the loop tells the facts late (model.fit)
 *   steps    per-step rows, one row layout per set of due values; windowed values (unit
 *            activity) averaged per window of an epoch; running sums for the epoch's means; the
 *            last value of each; a non-finite loss ends the run as diverged; the run's rules
 *            (src/rules/) read each probed step: one with the stop action ends it as stopped
 *   epochs   evaluation, diagnosis and timing rows, the final figures, a checkpoint
 *   progress status, steps and epochs done, overheads; checkpoints every few seconds; close
 *   resume   after each checkpoint, what the rows do not hold (the loop's model and position, the
 *            running sums) beside the trace (resume-state.ts); an unfinished trace with its state
 *            is taken up where that checkpoint ends ({@link TraceRecorder.resumeFrom})
 *
 * Writers in other languages follow the same rules (docs/trace-format.md).
 */
import { arch, cpus, platform } from 'node:os';
import { dirname } from 'node:path';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { packageVersion, probeVersion } from '../versions.js';
import { existingTrace } from './existing.js';
import { Metric, UNIT_WINDOWS_PER_EPOCH } from './metrics.js';
import { acquireRunLock, type RunLock } from './run-lock.js';
import {
  EVAL_METRICS, isFinished, MetaKey, RunProbe, RunStatus, TIMING_METRICS,
  type Divergence, type FinalFigures, type RuleEvent, type RunFacts, type RunProgress,
} from './schema.js';
import { TraceWriter } from './writer.js';
import { RuleWatch } from '../rules/watch.js';
import type { RuleConfig } from '../rules/rules.js';
import { readTrace, type Trace } from './reader.js';
import { readResumeState, removeResumeState, RESUME_VERSION, writeResumeState, type ResumeState, type StateArray } from './resume-state.js';

/** A probed value as a run's summary reports it: the last value measured of one slot. */
export interface LayerFigure {
  readonly layer: number;
  readonly probe: string;
  readonly metric: string;
  readonly value: number;
}

/** Figures of an epoch's end; any may be unknown (an attached model's loop may not evaluate). */
export interface EpochFigures {
  /** mean training loss over the epoch */
  readonly trainLoss?: number;
  readonly testLoss?: number;
  readonly testAcc?: number;
}

/** A row the caller measured outside the probes (the study's test-set diagnosis). */
export interface ExtraRow {
  readonly layer: number;
  readonly metric: string;
  readonly value: number;
}

/** Where each value of a probed step goes (the probe host's slots, in the same order). */
export interface RecordedSlot {
  readonly layer: number;
  readonly probe: string;
  readonly metric: string;
  /** averaged over a window of steps and written once per window (after every per-step slot) */
  readonly window: boolean;
}

export interface RecorderSetup {
  /** where the trace goes */
  readonly path: string;
  readonly run: string;
  /** replace a trace already at `path` (once this one closes finished) */
  readonly force: boolean;
  /**
   * a run that can go on from a checkpoint: its config hash (an unfinished trace of the same
   * settings may then be replaced or resumed without `force`) and what its loop must keep
   */
  readonly resumable?: {
    readonly configHash: string;
    /** the loop's own state at the last step done: the model and its position */
    loop(): { readonly scalars: Readonly<Record<string, unknown>>; readonly arrays: readonly StateArray[] };
  };
  /** the probe host's slots: per-step ones first, then windowed ones (ProbeHost.slots) */
  readonly slots: readonly RecordedSlot[];
  /** rows outside the probes that this run will write (probe name → its metric names) */
  readonly extra?: Readonly<Record<string, readonly string[]>>;
  /** take the run's lock (default); false when the caller holds it already (a sweep worker) */
  readonly lock?: boolean;
  /** seconds between checkpoints within an epoch; default 10 */
  readonly checkpointSeconds?: number;
  /** rules that read each probed step (src/rules/); `outputLayer`: the number of the output layer */
  readonly rules?: { readonly rules: readonly RuleConfig[]; readonly outputLayer: number; onPathology?(e: RuleEvent): void };
  /** called once, when the file is created */
  config(): Readonly<Record<string, unknown>>;
  facts(): RunFacts;
}

/** What every writer knows of its own process at start: versions, time, machine. */
export function processFacts(extraVersions: Readonly<Record<string, string>> = {}): Pick<RunFacts, 'versions' | 'startedAt' | 'host'> {
  return {
    versions: {
      node: process.versions.node,
      probe: probeVersion(),
      '@tensorflow/tfjs': packageVersion('@tensorflow/tfjs') ?? 'unknown',
      ...extraVersions,
      'apache-arrow': packageVersion('apache-arrow') ?? 'unknown',
    },
    startedAt: new Date().toISOString(),
    host: { platform: platform(), arch: arch(), cpus: cpus().length },
  };
}

/**
 * Whether the trace at `path` may be written: refuses what it must not replace, replaces what
 * holds nothing, and an unfinished trace of the same settings (`unfinishedOf`: the config hash)
 * that this run resumes or redoes.
 */
function mayReplace(path: string, force: boolean, unfinishedOf: string | null): boolean {
  const existing = existingTrace(path, unfinishedOf ?? '');
  switch (existing.kind) {
    case 'absent': return false;
    case 'unreadable': return true; // nothing in it to lose: an empty or damaged file is redone
    case 'foreign': throw new ProbeError(ErrorCode.exists, msg.notOurs(path, existing.why));
    case 'trace':
      if (!force && !(unfinishedOf !== null && existing.sameConfig && !existing.finished)) throw new ProbeError(ErrorCode.exists, msg.traceExists(path));
      return true;
  }
}

/** Takes the run's lock (run-lock.ts), or says who holds it. */
function claimRun(path: string): RunLock {
  let attempt;
  try {
    attempt = acquireRunLock(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new ProbeError(ErrorCode.io, msg.outDirNotWritable(dirname(path), code), { cause });
  }
  if (!attempt.acquired) {
    const h = attempt.holder;
    throw new ProbeError(ErrorCode.busy, msg.runBusy(path, h ? `pid ${h.pid} on ${h.host} (since ${h.startedAt})` : 'another process'));
  }
  return attempt.lock;
}

type Layout = { layers: Int8Array; probes: Int8Array; metrics: Int16Array };

/**
 * Figures whose non-finite value means the run has diverged: a gradient norm or element, or the
 * update ratio, beyond float32 (a norm > 1.8e19 squares past its range). Every backend overflows
 * at the same point, so they agree on when a run blew up even where one of them later turns the
 * overflow into NaN and another into 0 (#26 defect 2).
 */
const OVERFLOW_METRICS: ReadonlySet<string> = new Set([Metric.wGradNorm, Metric.wGradMax, Metric.bGradNorm, Metric.bGradMax, Metric.zGradNorm, Metric.zGradMax, Metric.updateRatio]);

/**
 * Why a run ended early on its own terms: its loss or weights stopped being finite (diverged), or a
 * rule with the stop action fired (stopped). The loop stops at once.
 */
export type Halt =
  | { readonly status: typeof RunStatus.diverged; readonly step: number; readonly reason: string }
  | { readonly status: typeof RunStatus.stopped; readonly step: number; readonly reason: string; readonly event: RuleEvent };

/** Steps between two checks of the parameters while the epoch's length is not known yet. */
export const UNKNOWN_EPOCH_CHECK = 100;

export class TraceRecorder {
  private writer: TraceWriter | null = null;
  private lock: RunLock | null = null;
  private readonly replace: boolean;
  private readonly nStep: number;
  private readonly layouts = new Map<string, Layout>();
  private windowLayout: Layout | null = null;
  private status: RunStatus = RunStatus.running;
  private halt: Halt | null = null;
  private readonly watch: RuleWatch | null;
  /** rules that fired, in order */
  private readonly fired: RuleEvent[] = [];
  private final: FinalFigures | null = null;
  private readonly epochSeconds: number[] = [];
  // per step slot: probes keep their own schedules, so each value has its own count of steps
  private readonly sums: Float64Array;
  private readonly counts: Float64Array;
  private readonly lastValue: Float64Array;
  private readonly seen: Uint8Array;
  // windowed slots: sums over the window's probed steps (unit-activity, the one windowed probe, runs every step, so one count serves all)
  private readonly windowSums: Float64Array;
  private windowCount = 0;
  private windowStart = 0;
  private stepsPerEpoch = 0;
  private stepInEpoch = 0;
  private stepsDone = 0;
  private wallMs = 0;
  private probeMs = 0;
  private writeMs = 0;
  private epochWriteMs = 0;
  private lastCheckpoint = performance.now();
  /** when the last resume state was written (null: none yet) */
  private stateAt: number | null = null;
  private readonly checkpointMs: number;
  /** a figure of the step just recorded beyond float32: the run diverges at stepDone */
  private overflow: Divergence | null = null;
  /** per slot: 1 where a non-finite value is divergence (OVERFLOW_METRICS) */
  private readonly overflowSlots: Uint8Array;

  constructor(private readonly setup: RecorderSetup) {
    this.nStep = setup.slots.filter((s) => !s.window).length;
    this.overflowSlots = Uint8Array.from(setup.slots, (s) => (OVERFLOW_METRICS.has(s.metric) ? 1 : 0));
    this.sums = new Float64Array(this.nStep);
    this.counts = new Float64Array(this.nStep);
    this.lastValue = new Float64Array(this.nStep);
    this.seen = new Uint8Array(this.nStep);
    this.windowSums = new Float64Array(setup.slots.length - this.nStep);
    this.checkpointMs = (setup.checkpointSeconds ?? 10) * 1000;
    this.watch = setup.rules?.rules.length ? new RuleWatch(setup.rules.rules, setup.slots, setup.rules.outputLayer) : null;
    // decided at once, not at the first step, and while holding the lock (another process may be
    // about to write the same trace)
    if (setup.lock ?? true) this.lock = claimRun(setup.path);
    try {
      this.replace = mayReplace(setup.path, setup.force, setup.resumable?.configHash ?? null);
    } catch (e) {
      this.abandon();
      throw e;
    }
  }

  /** The trace's name once finished; rows go to `<path>.partial` while an older trace waits to be replaced. */
  get path(): string {
    return this.setup.path;
  }

  /** Where rows are written now (the file a live reader can open). */
  get file(): string {
    return this.writer?.file ?? this.setup.path;
  }

  /** Set when the run ended early on its own terms (diverged, or stopped by a rule); the loop stops at once. */
  get halted(): Halt | null {
    return this.halt;
  }

  /** Set when the run diverged: the step, and what was not finite. */
  get divergence(): Divergence | null {
    return this.halt?.status === RunStatus.diverged ? { step: this.halt.step, reason: this.halt.reason } : null;
  }

  /** The rule that stopped the run, if one did. */
  get stoppedBy(): RuleEvent | null {
    return this.halt?.status === RunStatus.stopped ? this.halt.event : null;
  }

  /** Every rule that fired so far (warn or stop), in order. */
  get ruleEvents(): readonly RuleEvent[] {
    return this.fired;
  }

  get steps(): number {
    return this.stepsDone;
  }

  /** Steps per epoch: windows of per-unit activity are a fixed share of it. 0 = not known yet. */
  setStepsPerEpoch(n: number): void {
    if (this.stepsPerEpoch === 0) this.stepsPerEpoch = n;
  }

  private get windowSteps(): number {
    return this.stepsPerEpoch > 0 ? Math.max(1, Math.ceil(this.stepsPerEpoch / UNIT_WINDOWS_PER_EPOCH)) : Infinity;
  }

  progress(): RunProgress {
    const w = this.wallMs;
    return {
      status: this.status,
      epochsDone: this.epochSeconds.length,
      stepsDone: this.stepsDone,
      updatedAt: new Date().toISOString(),
      endedAt: this.status === RunStatus.running ? null : new Date().toISOString(),
      epochSeconds: [...this.epochSeconds],
      probeOverhead: w > 0 ? this.probeMs / w : null,
      writeOverhead: w > 0 ? this.writeMs / w : null,
      ...(this.final ? { final: this.final } : {}),
      ...(this.divergence ? { diverged: this.divergence } : {}),
      ...(this.stoppedBy ? { stopped: this.stoppedBy } : {}),
      ...(this.fired.length ? { rules: [...this.fired] } : {}),
    };
  }

  /** Creates the file (its first, empty checkpoint) if it is not there yet. */
  open(): TraceWriter {
    if (this.writer) return this.writer;
    const { slots, extra = {} } = this.setup;
    const probes = [...new Set([...slots.map((s) => s.probe), RunProbe.eval, RunProbe.timing, ...Object.keys(extra)])];
    const metrics = [...new Set([...slots.map((s) => s.metric), ...EVAL_METRICS, ...TIMING_METRICS, ...Object.values(extra).flat()])];
    const w = TraceWriter.create(this.setup.path, {
      run: this.setup.run,
      probes,
      metrics,
      metadata: { [MetaKey.config]: this.setup.config(), [MetaKey.facts]: this.setup.facts() },
    }, this.progress(), { force: this.replace, resumable: this.setup.resumable !== undefined });
    this.writer = w;
    this.lastCheckpoint = performance.now();
    return w;
  }

  private layoutOf(w: TraceWriter, slots: readonly number[]): Layout {
    const key = slots.join(',');
    let l = this.layouts.get(key);
    if (!l) {
      const sl = slots.map((i) => this.setup.slots[i]);
      l = { layers: Int8Array.from(sl, (s) => s.layer), probes: Int8Array.from(sl, (s) => w.probeId(s.probe)), metrics: Int16Array.from(sl, (s) => w.metricId(s.metric)) };
      this.layouts.set(key, l);
    }
    return l;
  }

  /**
   * A probed step's values: `values` = [loss, one value per due slot], `active` = the due slots'
   * indexes into the setup's slots, ascending (per-step ones first). A loss that is not a finite
   * number ends the run as diverged: training on from it cannot recover; so does a gradient figure
   * beyond float32 (OVERFLOW_METRICS), except in the `unmeasured` layers (NaN there: no value).
   */
  record(step: number, epoch: number, values: Float32Array, active: readonly number[], unmeasured?: ReadonlySet<number>): void {
    const t0 = performance.now();
    const w = this.open();
    let n = 0;
    while (n < active.length && active[n] < this.nStep) n++;
    w.appendMany(step, epoch, this.layoutOf(w, n === active.length ? active : active.slice(0, n)), values, 1);
    for (let k = 0; k < n; k++) {
      const slot = active[k], v = values[k + 1];
      this.sums[slot] += v;
      this.counts[slot]++;
      this.lastValue[slot] = v;
      this.seen[slot] = 1;
    }
    for (let k = n; k < active.length; k++) this.windowSums[active[k] - this.nStep] += values[k + 1];
    if (n < active.length) this.windowCount++;
    this.epochWriteMs += performance.now() - t0;
    if (!Number.isFinite(values[0])) this.diverge(step, `loss ${values[0]}`);
    for (let k = 0; k < n && !this.halt && !this.overflow; k++) {
      const slot = active[k], v = values[k + 1];
      if (this.overflowSlots[slot] && !Number.isFinite(v) && !unmeasured?.has(this.setup.slots[slot].layer)) {
        const s = this.setup.slots[slot];
        this.overflow = { step, reason: `layer ${s.layer} ${s.metric} ${v}: beyond float32` };
      }
    }
    if (this.watch) this.onRules(this.watch.observe(step, values, active));
  }

  /** The loss of a step that was not probed (a non-finite one ends the run as diverged). */
  loss(step: number, loss: number): void {
    if (!Number.isFinite(loss)) this.diverge(step, `loss ${loss}`);
    if (this.watch) this.onRules(this.watch.loss(step, loss));
  }

  /** Ends the run as diverged at `step` (the first reason to end it is kept). */
  diverge(step: number, reason: string): void {
    if (this.halt || this.status !== RunStatus.running) return;
    this.halt = { status: RunStatus.diverged, step, reason };
  }

  /** Rules that fired: said, listed in the trace, and the first with the stop action ends the run. */
  private onRules(events: readonly RuleEvent[]): void {
    for (const e of events) {
      this.fired.push(e);
      this.setup.rules?.onPathology?.(e);
      // a figure beyond float32 at this step ends the run as diverged (the stronger fact) at the step's end
      if (e.action === 'stop' && !this.halt && !this.overflow && this.status === RunStatus.running) this.halt = { status: RunStatus.stopped, step: e.step, reason: e.text, event: e };
    }
  }

  private flushWindow(epoch: number): void {
    if (this.windowCount > 0 && this.windowSums.length > 0) {
      const w = this.open();
      const t0 = performance.now();
      this.windowLayout ??= (() => {
        const sl = this.setup.slots.slice(this.nStep);
        return { layers: Int8Array.from(sl, (s) => s.layer), probes: Int8Array.from(sl, (s) => w.probeId(s.probe)), metrics: Int16Array.from(sl, (s) => w.metricId(s.metric)) };
      })();
      const means = Float32Array.from(this.windowSums, (v) => v / this.windowCount);
      w.appendMany(this.windowStart, epoch, this.windowLayout, means, 0);
      this.epochWriteMs += performance.now() - t0;
    }
    this.windowSums.fill(0);
    this.windowCount = 0;
    this.windowStart = this.stepsDone;
  }

  /**
   * A step finished (probed or not). `check`, if given, is asked whether the model's parameters
   * are still finite numbers (a reason when not: the run ends as diverged at this step) at steps
   * fixed by the run alone — after the first step (a model that starts from non-finite weights has
   * diverged from step 0) and at the end of each unit-activity window (10 an epoch; every
   * {@link UNKNOWN_EPOCH_CHECK} steps while the epoch's length is not known) — so that the
   * step a run diverges at never depends on the clock. Every few seconds the trace is made
   * durable; a checkpoint falling between two checks asks too, and is skipped when the parameters
   * are not finite (the next check ends the run), so no checkpoint keeps a diverged state.
   */
  stepDone(epoch: number, check?: () => string | null): void {
    this.stepsDone++;
    this.stepInEpoch++;
    const windowEnd = this.stepInEpoch % this.windowSteps === 0;
    if (windowEnd) this.flushWindow(epoch);
    // an epoch's length not known yet (an attached model's first epoch): every UNKNOWN_EPOCH_CHECK steps
    const checked = windowEnd || this.stepsDone === 1 || this.overflow !== null || (this.windowSteps === Infinity && this.stepsDone % UNKNOWN_EPOCH_CHECK === 0);
    if (checked) {
      const bad = check?.();
      if (bad) return this.diverge(this.stepsDone - 1, bad);
      // an overflowing figure with finite weights (the weights' own reason is the more telling)
      if (this.overflow) return this.diverge(this.overflow.step, this.overflow.reason);
    }
    const due = performance.now() - this.lastCheckpoint > this.checkpointMs;
    if (due && !checked && check?.()) return;
    if (due) {
      const t0 = performance.now();
      this.checkpoint();
      this.epochWriteMs += performance.now() - t0;
    }
  }

  /** Rows measured outside the probes (the study's test-set diagnosis), at `step`. */
  writeExtra(probe: string, step: number, epoch: number, rows: readonly ExtraRow[]): void {
    const w = this.open();
    const p = w.probeId(probe);
    for (const r of rows) w.append(step, epoch, r.layer, p, w.metricId(r.metric), r.value);
  }

  /**
   * Ends an epoch: its evaluation figures (those known and finite), timing rows, the figures a
   * sweep's index reads from the footer, a checkpoint. `diagnosis`: the evaluation's diagnosis
   * rows, kept in the final figures (written with {@link writeExtra}). Returns the seconds the
   * epoch spent writing the trace.
   */
  endEpoch(epoch: number, f: EpochFigures, seconds: number, probeSeconds: number, diagnosis?: readonly ExtraRow[]): number {
    const w = this.open();
    this.flushWindow(epoch);
    const t0 = performance.now();
    const e = w.probeId(RunProbe.eval), t = w.probeId(RunProbe.timing);
    const evals: (number | undefined)[] = [f.testLoss, f.testAcc, f.trainLoss];
    EVAL_METRICS.forEach((m, i) => { const v = evals[i]; if (v !== undefined && Number.isFinite(v)) w.append(this.stepsDone, epoch, 0, e, w.metricId(m), v); });
    const writeSeconds = (this.epochWriteMs + performance.now() - t0) / 1000;
    [seconds, probeSeconds, writeSeconds].forEach((v, i) => w.append(this.stepsDone, epoch, 0, t, w.metricId(TIMING_METRICS[i]), v));
    this.epochSeconds.push(seconds);
    this.wallMs += seconds * 1000;
    this.probeMs += probeSeconds * 1000;
    this.writeMs += writeSeconds * 1000;
    this.epochWriteMs = 0;
    this.final = {
      epoch,
      testAcc: f.testAcc ?? NaN,
      testLoss: f.testLoss ?? NaN,
      trainLoss: f.trainLoss ?? NaN,
      means: Object.fromEntries(this.setup.slots.slice(0, this.nStep).map((s, k) => [`${s.layer}/${s.probe}/${s.metric}`, this.counts[k] ? this.sums[k] / this.counts[k] : NaN])),
      ...(diagnosis ? { diagnosis: Object.fromEntries(diagnosis.map((r) => [`${r.layer}/${r.metric}`, Number.isFinite(r.value) ? r.value : null])) } : {}),
    };
    this.sums.fill(0);
    this.counts.fill(0);
    this.stepInEpoch = 0;
    this.windowStart = this.stepsDone;
    this.checkpoint();
    return writeSeconds;
  }

  /** Time of an epoch that did not finish (an interrupted or diverged run) still counts. */
  addWall(seconds: number, probeSeconds = 0): void {
    this.wallMs += seconds * 1000;
    this.probeMs += probeSeconds * 1000;
  }

  /**
   * Makes the rows so far durable (a valid file on disk), then the state to resume from them: at
   * the first checkpoint, then at most once per checkpoint interval (a state holds the whole model,
   * ~4 MB for the study's, while a short epoch may end every few hundred ms; an older state still
   * fits the trace's first rows, and resuming from it only redoes more steps).
   */
  checkpoint(): void {
    this.open().checkpoint(this.progress());
    const now = performance.now();
    if (this.stateAt === null || now - this.stateAt >= this.checkpointMs) {
      this.saveState();
      this.stateAt = now;
    }
    this.lastCheckpoint = performance.now();
  }

  /** Each step slot's last measured value (slots never measured are left out). */
  lastFigures(): LayerFigure[] {
    return this.setup.slots.slice(0, this.nStep).flatMap((s, i) => (this.seen[i] ? [{ layer: s.layer, probe: s.probe, metric: s.metric, value: this.lastValue[i] }] : []));
  }

  /** Overheads over the whole run so far (shares of wall time). */
  get overheads(): { readonly seconds: number; readonly probe: number; readonly write: number } {
    const w = this.wallMs;
    return { seconds: w / 1000, probe: w > 0 ? this.probeMs / w : 0, write: w > 0 ? this.writeMs / w : 0 };
  }

  /**
   * Closes the trace with `status` (a diverged or stopped run stays so) and frees the lock. The first
   * error of the run is the caller's to report: a failed final write is thrown only when `status`
   * was not `failed` already.
   */
  close(status: RunStatus): RunStatus {
    if (this.status !== RunStatus.running) return this.status;
    this.status = this.halt && status !== RunStatus.failed ? this.halt.status : status;
    try {
      this.open().close(this.progress());
      // a finished run has nothing to resume; an interrupted one stopped between steps and goes on
      // from here; a failed one keeps the state of its last checkpoint (its last step may be half done)
      if (isFinished(this.status)) removeResumeState(this.setup.path);
      else if (this.status === RunStatus.interrupted) this.saveState();
    } catch (e) {
      if (this.status !== RunStatus.failed) { this.status = RunStatus.failed; throw e; }
    } finally {
      this.lock?.release();
      this.lock = null;
    }
    return this.status;
  }

  /** Frees the lock without writing (a run that failed before its file was created). */
  abandon(): void {
    this.lock?.release();
    this.lock = null;
  }

  /** Whether the file was created (close it), or not (abandon). */
  get opened(): boolean {
    return this.writer !== null;
  }

  /** Epochs finished, and steps done in the epoch under way: where a resumed loop starts. */
  get position(): { readonly epochsDone: number; readonly stepInEpoch: number } {
    return { epochsDone: this.epochSeconds.length, stepInEpoch: this.stepInEpoch };
  }

  /**
   * What the unfinished trace at this run's path left to resume from (read under the run's lock),
   * or why it cannot be resumed. Only for a resumable run of the same settings.
   */
  resumeState(): { state: ResumeState; old: Trace } | { why: string } {
    const r = this.setup.resumable;
    if (!r) return { why: 'this run cannot be resumed' };
    const existing = existingTrace(this.setup.path, r.configHash);
    if (existing.kind !== 'trace' || !existing.sameConfig || existing.finished) return { why: 'no unfinished trace of these settings' };
    const read = readResumeState(this.setup.path);
    if ('why' in read) return read;
    const { state } = read;
    if (state.configHash !== r.configHash) return { why: 'its resume state is of other settings' };
    let old: Trace;
    try {
      old = readTrace(this.setup.path);
    } catch (e) {
      return { why: `it cannot be read (${(e as Error).message})` };
    }
    if (old.columns.length < state.rows) return { why: `it holds ${old.columns.length} rows, fewer than the ${state.rows} of its resume state` };
    return { state, old };
  }

  /**
   * Goes on from an unfinished trace: its first `state.rows` rows (everything up to the checkpoint
   * the state was written at) are copied into this trace, which takes the older file's place at
   * once; the recorder's running sums are the state's. The loop restores its own part.
   */
  resumeFrom(old: Trace, state: ResumeState): void {
    const w = this.open();
    const c = old.columns;
    const probes = c.probes.map((p) => w.probeId(p)), metrics = c.metrics.map((m) => w.metricId(m));
    for (let i = 0; i < state.rows; i++) w.append(c.step[i], c.epoch[i], c.layer[i], probes[c.probe[i]], metrics[c.metric[i]], c.value[i]);
    const sc = state.scalars as unknown as RecorderScalars;
    this.stepsDone = sc['recorder.stepsDone'];
    this.stepInEpoch = sc['recorder.stepInEpoch'];
    if (sc['recorder.stepsPerEpoch'] > 0) this.stepsPerEpoch = sc['recorder.stepsPerEpoch'];
    this.windowCount = sc['recorder.windowCount'];
    this.windowStart = sc['recorder.windowStart'];
    this.epochSeconds.push(...sc['recorder.epochSeconds']);
    this.wallMs = sc['recorder.wallMs'];
    this.probeMs = sc['recorder.probeMs'];
    this.writeMs = sc['recorder.writeMs'];
    this.final = sc['recorder.final'];
    this.fired.push(...(sc['recorder.fired'] ?? []));
    if (this.watch && sc['recorder.watch']) this.watch.restore(sc['recorder.watch']);
    const arr = new Map(state.arrays.map((a) => [a.name, a.values]));
    for (const [name, into] of [['recorder.sums', this.sums], ['recorder.counts', this.counts], ['recorder.lastValue', this.lastValue], ['recorder.windowSums', this.windowSums]] as const) {
      const v = arr.get(name);
      if (!v || v.length !== into.length) throw new ProbeError(ErrorCode.trace, msg.resumeMismatch(this.setup.path, name));
      into.set(v);
    }
    const seen = arr.get('recorder.seen');
    if (!seen || seen.length !== this.seen.length) throw new ProbeError(ErrorCode.trace, msg.resumeMismatch(this.setup.path, 'recorder.seen'));
    this.seen.set(seen);
    this.checkpoint();
    // the copy holds all the older file held up to its state: it replaces it now, not at the end
    w.replaceNow();
  }

  /** Writes the resume state of the checkpoint just made (only for the file at the trace's own name). */
  private saveState(): void {
    const r = this.setup.resumable, w = this.writer;
    if (!r || !w || w.file !== this.setup.path) return;
    const loop = r.loop();
    const scalars: RecorderScalars = {
      'recorder.stepsDone': this.stepsDone, 'recorder.stepInEpoch': this.stepInEpoch, 'recorder.stepsPerEpoch': this.stepsPerEpoch,
      'recorder.windowCount': this.windowCount, 'recorder.windowStart': this.windowStart, 'recorder.epochSeconds': [...this.epochSeconds],
      'recorder.wallMs': this.wallMs, 'recorder.probeMs': this.probeMs, 'recorder.writeMs': this.writeMs, 'recorder.final': this.final,
      'recorder.fired': [...this.fired], 'recorder.watch': this.watch?.state() ?? null,
    };
    // a state that cannot be written (a full disk) leaves the previous one, which still fits the
    // trace's first rows: resuming from it only redoes more steps; the trace's own write reports the disk
    try { writeResumeState(this.setup.path, {
      version: RESUME_VERSION, configHash: r.configHash, backend: this.setup.facts().backend, rows: w.rows,
      scalars: { ...scalars, ...loop.scalars },
      arrays: [
        { name: 'recorder.sums', values: this.sums }, { name: 'recorder.counts', values: this.counts },
        { name: 'recorder.lastValue', values: this.lastValue }, { name: 'recorder.seen', values: Float64Array.from(this.seen) },
        { name: 'recorder.windowSums', values: this.windowSums }, ...loop.arrays,
      ],
    }); } catch { /* see above */ }
  }
}

/** The recorder's part of a resume state. */
interface RecorderScalars {
  'recorder.stepsDone': number;
  'recorder.stepInEpoch': number;
  'recorder.stepsPerEpoch': number;
  'recorder.windowCount': number;
  'recorder.windowStart': number;
  'recorder.epochSeconds': number[];
  'recorder.wallMs': number;
  'recorder.probeMs': number;
  'recorder.writeMs': number;
  'recorder.final': FinalFigures | null;
  /** rules fired so far, and each watcher's count (absent in states written before rules) */
  'recorder.fired'?: RuleEvent[];
  'recorder.watch'?: [number | null, boolean][] | null;
}
