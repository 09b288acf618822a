/**
 * The trace of an attached run: the same file, columns and metadata keys as `probe run`'s
 * (trace/schema.ts), written with the same {@link TraceWriter}. The file is created at the first
 * probed step (or at close), when the training loop has told how many steps an epoch has.
 */
import { existsSync } from 'node:fs';
import { TraceWriter } from '../trace/writer.js';
import { EVAL_METRICS, MetaKey, RunProbe, RunStatus, TIMING_METRICS, type FinalFigures, type RunFacts, type RunProgress } from '../trace/schema.js';
import type { ValueSlot } from '../probes/host.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';

export interface EpochFigures {
  /** mean training loss over the epoch, as `model.fit` logs it */
  readonly trainLoss?: number;
  readonly testLoss?: number;
  readonly testAcc?: number;
}

export interface RecorderSetup {
  readonly path: string;
  readonly run: string;
  readonly force: boolean;
  readonly slots: readonly ValueSlot[];
  /** called once each, when the file is created */
  config(): Readonly<Record<string, unknown>>;
  facts(): RunFacts;
}


export class Recorder {
  private writer: TraceWriter | null = null;
  /** one row layout per set of due slots (probes keep their own schedules; the sets repeat) */
  private readonly layouts = new Map<string, { layers: Int8Array; probes: Int8Array; metrics: Int16Array }>();
  private status: RunStatus = RunStatus.running;
  private readonly epochSeconds: number[] = [];
  private final: FinalFigures | null = null;
  private readonly sums: Float64Array;
  /** per slot: the steps of this epoch that measured it */
  private readonly counts: Float64Array;
  private stepsDone = 0;
  private epochsDone = 0;
  private wallMs = 0;
  private probeMs = 0;
  private writeMs = 0;
  private epochWriteMs = 0;
  /** [loss, one value per slot] as last measured (NaN for a slot not measured yet), or null before any step */
  last: Float32Array | null = null;

  constructor(private readonly setup: RecorderSetup) {
    // refuse at once, not at the first step, to replace a trace
    if (!setup.force && existsSync(setup.path)) throw new ProbeError(ErrorCode.exists, msg.traceExists(setup.path));
    this.sums = new Float64Array(setup.slots.length);
    this.counts = new Float64Array(setup.slots.length);
  }

  get path(): string {
    return this.setup.path;
  }

  private progress(): RunProgress {
    const w = this.wallMs;
    return {
      status: this.status,
      epochsDone: this.epochsDone,
      stepsDone: this.stepsDone,
      updatedAt: new Date().toISOString(),
      endedAt: this.status === RunStatus.running ? null : new Date().toISOString(),
      epochSeconds: [...this.epochSeconds],
      probeOverhead: w > 0 ? this.probeMs / w : null,
      writeOverhead: w > 0 ? this.writeMs / w : null,
      ...(this.final ? { final: this.final } : {}),
    };
  }

  private open(): TraceWriter {
    if (this.writer) return this.writer;
    const { slots } = this.setup;
    const probes = [...new Set([...slots.map((s) => s.probe), RunProbe.eval, RunProbe.timing])];
    const metrics = [...new Set([...slots.map((s) => s.metric), ...EVAL_METRICS, ...TIMING_METRICS])];
    const w = TraceWriter.create(this.setup.path, {
      run: this.setup.run,
      probes,
      metrics,
      metadata: { [MetaKey.config]: this.setup.config(), [MetaKey.facts]: this.setup.facts() },
    }, this.progress(), { force: this.setup.force });
    this.writer = w;
    return w;
  }

  private layoutOf(w: TraceWriter, active: readonly number[]) {
    const key = active.join(',');
    let l = this.layouts.get(key);
    if (!l) {
      const sl = active.map((i) => this.setup.slots[i]);
      l = { layers: Int8Array.from(sl, (s) => s.layer), probes: Int8Array.from(sl, (s) => w.probeId(s.probe)), metrics: Int16Array.from(sl, (s) => w.metricId(s.metric)) };
      this.layouts.set(key, l);
    }
    return l;
  }

  /**
   * `values` = [loss, one value per due slot] of a probed step; `active` = the due slots' indexes
   * into the setup's slots, ascending (default: all of them).
   */
  record(step: number, epoch: number, values: Float32Array, active: readonly number[] = this.setup.slots.map((_, i) => i)): void {
    const t0 = performance.now();
    const w = this.open();
    w.appendMany(step, epoch, this.layoutOf(w, active), values, 1);
    const last = this.last ?? new Float32Array(this.setup.slots.length + 1).fill(NaN);
    last[0] = values[0];
    active.forEach((slot, k) => {
      this.sums[slot] += values[k + 1];
      this.counts[slot]++;
      last[slot + 1] = values[k + 1];
    });
    this.last = last;
    this.epochWriteMs += performance.now() - t0;
  }

  /** A step finished (probed or not). */
  stepDone(): void {
    this.stepsDone++;
  }

  addProbeMs(ms: number): void {
    this.probeMs += ms;
  }

  endEpoch(epoch: number, f: EpochFigures, seconds: number, probeSeconds: number): void {
    const w = this.open();
    const t0 = performance.now();
    const e = w.probeId(RunProbe.eval), t = w.probeId(RunProbe.timing);
    const evals: (number | undefined)[] = [f.testLoss, f.testAcc, f.trainLoss];
    EVAL_METRICS.forEach((m, i) => { const v = evals[i]; if (v !== undefined && Number.isFinite(v)) w.append(this.stepsDone, epoch, 0, e, w.metricId(m), v); });
    const writeSeconds = (this.epochWriteMs + performance.now() - t0) / 1000;
    [seconds, probeSeconds, writeSeconds].forEach((v, i) => w.append(this.stepsDone, epoch, 0, t, w.metricId(TIMING_METRICS[i]), v));
    this.epochSeconds.push(seconds);
    this.epochsDone++;
    this.wallMs += seconds * 1000;
    this.writeMs += writeSeconds * 1000;
    this.epochWriteMs = 0;
    this.final = {
      epoch,
      testAcc: f.testAcc ?? NaN,
      testLoss: f.testLoss ?? NaN,
      trainLoss: f.trainLoss ?? NaN,
      means: Object.fromEntries(this.setup.slots.map((s, k) => [`${s.layer}/${s.probe}/${s.metric}`, this.counts[k] ? this.sums[k] / this.counts[k] : NaN])),
    };
    this.sums.fill(0);
    this.counts.fill(0);
    w.checkpoint(this.progress());
  }

  /** Makes the rows so far durable (model.fit's batches can be long: call it now and then). */
  checkpoint(): void {
    this.writer?.checkpoint(this.progress());
  }

  close(status: RunStatus): void {
    if (this.status !== RunStatus.running) return;
    this.status = status;
    this.open().close(this.progress());
  }
}
