import { traceSchema, RunProbe } from './schema.js';
import type { Trace } from './reader.js';

export interface EpochRow {
  readonly epoch: number;
  readonly step: number;
  readonly testLoss: number | null;
  readonly testAcc: number | null;
  readonly trainLoss: number | null;
  readonly seconds: number | null;
  readonly probeSeconds: number | null;
}

export interface TraceSummary {
  readonly path: string;
  readonly run: string;
  readonly status: string;
  readonly truncated: boolean;
  readonly recovered: boolean;
  readonly rows: number;
  readonly bytes: number;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly config: Record<string, unknown>;
  readonly facts: Trace['facts'];
  readonly progress: Trace['progress'];
  readonly epochsPlanned: number | null;
  readonly epochs: readonly EpochRow[];
  /** the highest step with probe rows, +1 */
  readonly stepsRecorded: number;
  /** metric names recorded per layer (0 = network) and probe */
  readonly recorded: readonly { readonly layer: number; readonly probe: string; readonly metrics: readonly string[] }[];
}

/** Rows of one metric (by name) in a trace, as parallel arrays; layer −1 matches any layer. */
export function metricRows(t: Trace, probe: string, metric: string, layer = -1): { step: number[]; epoch: number[]; layer: number[]; value: number[] } {
  const c = t.columns;
  const p = c.probes.indexOf(probe), m = c.metrics.indexOf(metric);
  const out = { step: [] as number[], epoch: [] as number[], layer: [] as number[], value: [] as number[] };
  if (p < 0 || m < 0) return out;
  for (let i = 0; i < c.length; i++) {
    if (c.probe[i] === p && c.metric[i] === m && (layer < 0 || c.layer[i] === layer)) {
      out.step.push(c.step[i]);
      out.epoch.push(c.epoch[i]);
      out.layer.push(c.layer[i]);
      out.value.push(c.value[i]);
    }
  }
  return out;
}

export function summarizeTrace(t: Trace): TraceSummary {
  const c = t.columns;
  const byEpoch = new Map<number, Record<string, number> & { step: number }>();
  const recorded = new Map<string, { layer: number; probe: string; metrics: Set<string> }>();
  let maxStep = -1;
  for (let i = 0; i < c.length; i++) {
    const probe = c.probes[c.probe[i]], metric = c.metrics[c.metric[i]];
    if (probe === RunProbe.eval || probe === RunProbe.timing) {
      const e = byEpoch.get(c.epoch[i]) ?? { step: c.step[i] };
      e[metric] = c.value[i];
      byEpoch.set(c.epoch[i], e);
      continue;
    }
    if (c.step[i] > maxStep) maxStep = c.step[i];
    const key = `${c.layer[i]}/${probe}`;
    let r = recorded.get(key);
    if (!r) recorded.set(key, (r = { layer: c.layer[i], probe, metrics: new Set() }));
    r.metrics.add(metric);
  }
  const n = (v: number | undefined) => (v === undefined ? null : v);
  const epochs = [...byEpoch.entries()].sort((a, b) => a[0] - b[0]).map(([epoch, e]) => ({
    epoch, step: e.step, testLoss: n(e.test_loss), testAcc: n(e.test_acc), trainLoss: n(e.train_loss),
    seconds: n(e.epoch_seconds), probeSeconds: n(e.probe_seconds),
  }));
  const planned = t.config.epochs;
  return {
    path: t.path, run: t.run, status: t.status, truncated: t.truncated, recovered: t.recovered,
    rows: c.length, bytes: t.bytes,
    columns: traceSchema().fields.map((f) => ({ name: f.name, type: String(f.type) })),
    config: t.config.raw, facts: t.facts, progress: t.progress, epochsPlanned: planned, epochs,
    stepsRecorded: maxStep + 1,
    recorded: [...recorded.values()].sort((a, b) => a.layer - b.layer || a.probe.localeCompare(b.probe)).map((r) => ({ ...r, metrics: [...r.metrics] })),
  };
}
