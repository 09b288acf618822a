/**
 * Traces written row by row from a function of the step: any figure, on any layer, for tests of
 * the readers (the diagnosis, the page's charts) that need a figure the study's synthetic runs
 * (synthetic.ts) do not make, e.g. gradients that are exactly 0 from some step on.
 */
import { join } from 'node:path';
import { TraceWriter } from '../src/trace/writer.js';
import { MetaKey, RunProbe, RunStatus, type RunFacts, type RunProgress } from '../src/trace/schema.js';
import { DIAGNOSIS_PROBE, LayerErrorShare, UNIT_ACTIVITY_PROBE, unitMetric } from '../src/trace/metrics.js';
import { Diag } from '../src/study/study.js';

export type Row = readonly [layer: number, probe: string, metric: string, value: number];

export interface Built {
  readonly acts: readonly string[];
  readonly widths: readonly number[];
  readonly steps: number;
  readonly stepsPerEpoch?: number;
  /** rows of a step (probed every step) */
  readonly rows: (step: number) => readonly Row[];
  /** per layer, per unit: the step from which it is dead (unit-activity windows of 10 steps) */
  readonly deaths?: Readonly<Record<number, readonly (number | null)[]>>;
  /** test accuracy after each epoch; absent: no evaluation */
  readonly testAcc?: number;
  /** diagnosis rows at the last evaluation */
  readonly diag?: readonly Row[];
  readonly engine?: string;
  readonly epochs?: number;
  readonly trainSize?: number;
  readonly diverged?: { step: number; reason: string };
  /** more of the stored config (an attached model's is `{ source: 'attach', … }`) */
  readonly config?: Readonly<Record<string, unknown>>;
  /** the facts' dataset name; default `synthetic` */
  readonly dataset?: string;
}

export function writeBuilt(dir: string, name: string, b: Built): string {
  const path = join(dir, `${name}.arrow`);
  const spe = b.stepsPerEpoch ?? b.steps;
  const epochs = Math.ceil(b.steps / spe);
  const facts: RunFacts = {
    run: name, combo: b.acts.join('-'), seed: 1, backend: 'synthetic', engine: b.engine ?? 'fast', versions: {}, startedAt: '2026-01-01T00:00:00Z',
    host: { platform: 'linux', arch: 'x64', cpus: 2 }, dataset: { name: b.dataset ?? 'synthetic', source: '', trainSize: b.trainSize ?? spe * 32, testSize: 100 },
    layers: b.acts.map((activation, i) => ({ layer: i + 1, activation, fanIn: i ? b.widths[i - 1] : 784, fanOut: b.widths[i] })), stepsPerEpoch: spe,
  };
  const prog = (status: RunStatus, done: number): RunProgress => ({ status, epochsDone: done, stepsDone: done * spe, updatedAt: '', endedAt: null, epochSeconds: [], probeOverhead: null, writeOverhead: null, ...(b.diverged ? { diverged: b.diverged } : {}) });
  const sample = b.rows(0);
  const metrics = [...new Set([...sample.map((r) => r[2]), ...b.rows(b.steps - 1).map((r) => r[2]), 'test_acc', 'test_loss', ...Object.values(Diag), ...Object.values(LayerErrorShare), ...Array.from({ length: Math.max(...b.widths) }, (_, k) => unitMetric(k))])];
  const w = TraceWriter.create(path, {
    run: name, probes: [...new Set([...sample.map((r) => r[1]), RunProbe.eval, RunProbe.timing, DIAGNOSIS_PROBE, UNIT_ACTIVITY_PROBE])], metrics,
    metadata: { [MetaKey.config]: { epochs: b.epochs ?? epochs, ...(b.engine === 'attach' ? { source: 'attach' } : {}), ...b.config }, [MetaKey.facts]: facts },
  }, prog(RunStatus.running, 0));
  for (let s = 0; s < b.steps; s++) {
    const e = Math.floor(s / spe) + 1;
    for (const [l, p, m, v] of b.rows(s)) w.append(s, e, l, w.probeId(p), w.metricId(m), v);
    if (b.deaths && s % 10 === 0) {
      for (const [layer, units] of Object.entries(b.deaths)) units.forEach((d, u) => w.append(s, e, Number(layer), w.probeId(UNIT_ACTIVITY_PROBE), w.metricId(unitMetric(u)), d !== null && s >= d ? 0 : 0.4));
    }
    if ((s + 1) % spe === 0 || s === b.steps - 1) {
      if (b.testAcc !== undefined) w.append(s + 1, e, 0, w.probeId(RunProbe.eval), w.metricId('test_acc'), b.testAcc);
      if (b.diag && s === b.steps - 1) for (const [l, , m, v] of b.diag) w.append(s + 1, e, l, w.probeId(DIAGNOSIS_PROBE), w.metricId(m), v);
    }
  }
  w.close(prog(b.diverged ? RunStatus.diverged : RunStatus.complete, epochs));
  return path;
}

/**
 * The model: tanh → ReLU whose bias starts at −3 (61 of its 64 units never fire) →
 * Dropout (not probed) → softmax, trained with Adam through attachProbes; 9.8% accuracy.
 */
export function deadLayerModel(dir: string, opts: { dataset?: string; config?: Record<string, unknown> } = {}): string {
  const rows = (s: number): Row[] => [
    [0, 'loss', 'loss', 2.3], [0, 'loss', 'accuracy', 0.098],
    ...[1, 2, 3].flatMap((l): Row[] => [[l, 'gradients', 'w_grad_norm', 0.01], [l, 'gradients', 'w_grad_max', 0.001 * (1 + (s % 3))], [l, 'gradients', 'z_grad_norm', 0.01], [l, 'gradients', 'z_grad_max', 0.002]]),
    [1, 'saturation', 'sat_frac', 0.05],
  ];
  return writeBuilt(dir, 'tanh-relu-softmax', {
    acts: ['tanh', 'relu', 'softmax'], widths: [128, 64, 10], steps: 300, stepsPerEpoch: 100, rows, testAcc: 0.098, engine: 'attach',
    deaths: { 2: Array.from({ length: 64 }, (_, u) => (u < 61 ? 0 : null)) }, ...(opts.dataset ? { dataset: opts.dataset } : {}), ...(opts.config ? { config: opts.config } : {}),
  });
}

/**
 * sigmoid-sigmoid-relu as the issue saw it (3 epochs of 1,875 steps): the output ReLU dies at
 * step 120, after which every gradient is exactly 0 but at 73 scattered steps (5,552 of 5,625
 * zero) — H1's dead output layer, which a log axis and smoothing used to draw as a smooth decay (H2).
 */
export const ZERO_RUN = { steps: 5625, diesAt: 120, every: 77, before: [0.02, 0.01], after: 0.004 } as const;

export function zeroGradientRun(dir: string): string {
  const { steps, diesAt, every, before, after } = ZERO_RUN;
  const grad = (s: number) => (s < diesAt ? before[0] + (before[1] - before[0]) * (s / diesAt) : s % every === 0 ? after : 0);
  const rows = (s: number): Row[] => [
    [0, 'loss', 'loss', 2.3], [0, 'loss', 'accuracy', 0.098],
    ...[1, 2, 3].flatMap((l): Row[] => [
      [l, 'gradients', 'w_grad_norm', grad(s)], [l, 'gradients', 'w_grad_max', grad(s) / 10],
      [l, 'gradients', 'z_grad_norm', grad(s)], [l, 'gradients', 'z_grad_max', grad(s) / 10], [l, 'gradients', 'update_ratio', grad(s) / 100],
    ]),
  ];
  return writeBuilt(dir, 'sigmoid-sigmoid-relu_s1', {
    acts: ['sigmoid', 'sigmoid', 'relu'], widths: [500, 256, 10], steps, stepsPerEpoch: 1875, rows, testAcc: 0.098,
    deaths: { 3: Array(10).fill(diesAt) },
  });
}

/**
 * The screenshot's relu-relu-sigmoid (a learning run): its output's wrong-side saturation is noise
 * between 0 and 1%, its sat_frac at 0.6 (a trained sigmoid output's, where the loss wants it), its
 * hidden ReLUs with 2–8% of units dead per batch; `rules` stored as a run given --warn-when/--stop-when
 * stores them. `acts` may put sigmoids in hidden layers (their sat_frac 0.1).
 */
export function wrongSideNoiseRun(dir: string, name = 'relu-relu-sigmoid_s1', acts: readonly string[] = ['relu', 'relu', 'sigmoid'], rules?: readonly Record<string, unknown>[]): string {
  const L = acts.length;
  return writeBuilt(dir, name, {
    acts, widths: [64, 32, 10].slice(3 - L), steps: 300, stepsPerEpoch: 100, testAcc: 0.87,
    rows: (s) => {
      const wobble = ((s * 7919) % 13) / 13; // deterministic noise in [0, 1)
      const out: Row[] = [[0, 'loss', 'loss', 1.5 - s / 1000]];
      acts.forEach((a, i) => {
        const l = i + 1;
        if (a === 'relu') out.push([l, 'dead-relu', 'inactive_frac', 0.3], [l, 'dead-relu', 'dead_units', 0.02 + 0.06 * wobble], [l, 'dead-relu', 'dead_rows', 0]);
        else {
          out.push([l, 'saturation', 'sat_frac', l === L ? 0.6 : 0.1], [l, 'saturation', 'mean_deriv', 0.04]);
          if (l === L) out.push([l, 'saturation', 'sat_wrong_frac', 0.01 * wobble]);
        }
      });
      return out;
    },
    ...(rules ? { config: { rules } } : {}),
  });
}
