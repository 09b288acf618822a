/**
 * Synthetic traces with chosen figures: the report's verdict logic is tested on runs built so
 * that H1 holds or not, H2 holds or not, without training anything.
 */
import { join } from 'node:path';
import { TraceWriter } from '../src/trace/writer.js';
import { MetaKey, RunProbe, RunStatus, type RunFacts, type RunProgress } from '../src/trace/schema.js';
import { rng } from '../src/train/rng.js';

export interface SyntheticRun {
  readonly combo: string;
  readonly seed: number;
  /** final test accuracy */
  readonly acc: number;
  /** output layer dead_rows (relu outputs only) */
  readonly deadRows?: number;
  /** sat_frac of the layer before the output (non-relu only) */
  readonly sat?: number;
  readonly epochs?: number;
  readonly stepsPerEpoch?: number;
  /** probes recorded; default all */
  readonly probes?: readonly string[];
  /** stop writing after this many epochs, leaving the trace as if killed */
  readonly killAfter?: number;
}

const METRICS = {
  loss: ['loss', 'accuracy'],
  'dead-relu': ['inactive_frac', 'dead_units', 'dead_rows', ...Array.from({ length: 10 }, (_, k) => `active_u${k}`)],
  saturation: ['sat_frac', 'sat_low', 'sat_high', 'mean_deriv'],
  gradients: ['w_grad_norm', 'w_grad_max', 'b_grad_norm', 'b_grad_max', 'z_grad_norm', 'z_grad_max', 'update_ratio'],
} as const;

export function writeSyntheticTrace(dir: string, s: SyntheticRun): string {
  const acts = s.combo.split('-');
  const epochs = s.epochs ?? 3, spe = s.stepsPerEpoch ?? 20;
  const probes = s.probes ?? ['loss', 'saturation', 'dead-relu', 'gradients'];
  const run = `${s.combo}_s${s.seed}`;
  const path = join(dir, `${run}.arrow`);
  const sizes = [784, 500, 256, 10];
  const facts: RunFacts = {
    run, combo: s.combo, seed: s.seed, backend: 'synthetic', engine: 'synthetic', versions: {}, startedAt: '2026-01-01T00:00:00Z',
    host: { platform: 'linux', arch: 'x64', cpus: 2 }, dataset: { name: 'synthetic', source: '', trainSize: spe * 32, testSize: 100 },
    layers: acts.map((activation, i) => ({ layer: i + 1, activation, fanIn: sizes[i], fanOut: sizes[i + 1] })), stepsPerEpoch: spe,
  };
  const prog = (status: RunStatus, done: number): RunProgress => ({ status, epochsDone: done, stepsDone: done * spe, updatedAt: '', endedAt: null, epochSeconds: [], probeOverhead: null, writeOverhead: null });
  const w = TraceWriter.create(path, {
    run, probes: [...probes, RunProbe.eval, RunProbe.timing],
    metrics: [...new Set([...Object.values(METRICS).flat(), 'test_loss', 'test_acc', 'train_loss', 'epoch_seconds', 'probe_seconds', 'write_seconds'])],
    metadata: { [MetaKey.config]: { combo: s.combo, seed: s.seed, epochs, probes }, [MetaKey.facts]: facts },
  }, prog(RunStatus.running, 0));
  const r = rng(s.seed, `synthetic-${s.combo}`);
  const noise = () => (r.float() - 0.5) * 0.02;
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  let step = 0;
  for (let e = 1; e <= epochs; e++) {
    if (s.killAfter !== undefined && e > s.killAfter) return path; // never closed, as after kill -9
    for (let k = 0; k < spe; k++, step++) {
      const put = (layer: number, probe: string, metric: string, v: number) => w.append(step, e, layer, w.probeId(probe), w.metricId(metric), v);
      if (probes.includes('loss')) { put(0, 'loss', 'loss', 2.3 * (1 - s.acc) + noise()); put(0, 'loss', 'accuracy', clamp(s.acc + noise())); }
      acts.forEach((a, i) => {
        const l = i + 1, out = l === acts.length;
        if (a === 'relu' && probes.includes('dead-relu')) {
          const dr = out && s.deadRows !== undefined ? clamp(s.deadRows + noise()) : 0;
          put(l, 'dead-relu', 'inactive_frac', clamp(0.5 + dr / 2)); put(l, 'dead-relu', 'dead_units', dr); put(l, 'dead-relu', 'dead_rows', dr);
          if (out) for (let u = 0; u < 10; u++) put(l, 'dead-relu', `active_u${u}`, u < 10 * (s.deadRows ?? 0) && step > 5 ? 0 : 0.5);
        }
        if (a !== 'relu' && probes.includes('saturation')) {
          const sat = l === acts.length - 1 && s.sat !== undefined ? clamp(s.sat + noise()) : 0.05;
          put(l, 'saturation', 'sat_frac', sat); put(l, 'saturation', 'sat_low', sat / 2); put(l, 'saturation', 'sat_high', sat / 2); put(l, 'saturation', 'mean_deriv', 0.25 * (1 - sat));
        }
        if (probes.includes('gradients')) for (const m of METRICS.gradients) put(l, 'gradients', m, 0.01 * (1 + noise()));
      });
    }
    const ev = w.probeId(RunProbe.eval);
    w.append(step, e, 0, ev, w.metricId('test_acc'), s.acc);
    w.append(step, e, 0, ev, w.metricId('test_loss'), 2.3 * (1 - s.acc));
    w.append(step, e, 0, ev, w.metricId('train_loss'), 2.3 * (1 - s.acc));
    w.checkpoint(prog(RunStatus.running, e));
  }
  w.close(prog(RunStatus.complete, epochs));
  return path;
}
