/**
 * Rules replayed over a trace that was already written: the watcher a live run uses (watch.ts), fed
 * from the trace's rows. A trace holds every figure the recorder hands the rules — the loss of every
 * step, and each per-step probe's values at its probed steps, as float32, in the order the recorder
 * wrote them — so rules replayed over a run's trace fire where a live run with those rules would
 * have fired, up to the first stop (after which the live run would have ended). This is how the rules
 * are measured on runs trained without them (bench/rules-slice.ts).
 */
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { PROBE_IDS, ProbeId } from '../probes/ids.js';
import { Metric, UNIT_ACTIVITY_PROBE } from '../trace/metrics.js';
import type { Trace } from '../trace/reader.js';
import type { RuleEvent } from '../trace/schema.js';
import { RuleAction, type RuleConfig } from './rules.js';
import { RuleWatch, type WatchedSlot } from './watch.js';

/** The probes whose values the recorder writes as they come, step by step (unit activity is averaged per window). */
const PER_STEP: ReadonlySet<string> = new Set(PROBE_IDS.filter((p) => p !== UNIT_ACTIVITY_PROBE));

/**
 * Every event `rules` give on the trace's steps, in the order a live run gives them. The output
 * layer is the last probed layer (as in probe's MLP). A trace without the loss probe's rows cannot
 * be replayed: its unprobed steps' losses are not in it.
 */
export function replayRules(t: Trace, rules: readonly RuleConfig[]): RuleEvent[] {
  const c = t.columns;
  const perStep = c.probes.map((p) => PER_STEP.has(p));
  const lossProbe = c.probes.indexOf(ProbeId.loss), lossMetric = c.metrics.indexOf(Metric.loss);
  // one slot per (layer, probe, metric), numbered as first written
  const slotOf = new Map<number, number>();
  const slots: WatchedSlot[] = [];
  const key = (i: number) => (c.layer[i] * 256 + c.probe[i]) * 65536 + c.metric[i];
  let hasLoss = false, outputLayer = 0;
  for (let i = 0; i < c.length; i++) {
    if (!perStep[c.probe[i]]) continue;
    if (c.probe[i] === lossProbe && c.metric[i] === lossMetric && c.layer[i] === 0) hasLoss = true;
    outputLayer = Math.max(outputLayer, c.layer[i]);
    if (!slotOf.has(key(i))) {
      slotOf.set(key(i), slots.length);
      slots.push({ layer: c.layer[i], metric: c.metrics[c.metric[i]], window: false });
    }
  }
  if (!hasLoss) throw new ProbeError(ErrorCode.trace, msg.replayNeedsLoss(t.path));
  const watch = new RuleWatch(rules, slots, outputLayer);
  const events: RuleEvent[] = [];
  // a step's per-step rows are written together (one append per step), in the order of its active slots
  for (let i = 0; i < c.length;) {
    if (!perStep[c.probe[i]]) { i++; continue; }
    const step = c.step[i];
    let loss = NaN;
    const active: number[] = [], values: number[] = [];
    for (; i < c.length && (c.step[i] === step || !perStep[c.probe[i]]); i++) {
      if (!perStep[c.probe[i]]) continue;
      if (c.probe[i] === lossProbe && c.metric[i] === lossMetric && c.layer[i] === 0) loss = c.value[i];
      active.push(slotOf.get(key(i)) as number);
      values.push(c.value[i]);
    }
    const fired = watch.observe(step, Float32Array.from([loss, ...values]), active);
    events.push(...fired);
    if (fired.some((e) => e.action === RuleAction.stop)) break;
  }
  return events;
}
