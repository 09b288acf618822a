/**
 * The rules of a run, evaluated on each probed step's values as the recorder writes them: the one
 * place a condition's patience is counted. Each (rule, layer) fires once, at the first probed step
 * where its condition has held at every probed step for `patience` steps.
 */
import type { RuleEvent } from '../trace/schema.js';
import { RULES, RULE_RELATION, RuleAction, ruleMetrics, type RuleConfig } from './rules.js';

/** A per-step value the recorder writes: its layer and metric. */
export interface WatchedSlot {
  readonly layer: number;
  readonly metric: string;
  readonly window: boolean;
}

interface Watcher {
  readonly rule: RuleConfig;
  readonly layer: number;
  since: number | null;
  fired: boolean;
}

const fmt = (v: number) => (Number.isFinite(v) && v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e4) ? v.toExponential(2) : Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v));

function holds(r: RuleConfig, v: number, isLoss: boolean): boolean {
  switch (RULES[r.rule].test) {
    case 'nonFinite': return isLoss ? !Number.isFinite(v) : v === Infinity || v === -Infinity;
    case 'above': return v > r.threshold;
    case 'atLeast': return v >= r.threshold;
    case 'belowNonZero': return v > 0 && v < r.threshold;
  }
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** What a watcher saw at a step: whether its condition held, on which figure and value. */
interface Seen { holds: boolean; metric: string; value: number }

export class RuleWatch {
  /** every watcher, in a fixed order: one per (rule, layer) */
  private readonly all: Watcher[] = [];
  /** per slot index: the watchers that read it */
  private readonly bySlot = new Map<number, Watcher[]>();
  private readonly lossWatchers: Watcher[] = [];

  constructor(readonly rules: readonly RuleConfig[], private readonly slots: readonly WatchedSlot[], outputLayer: number) {
    for (const rule of rules) {
      const spec = RULES[rule.rule];
      if (spec.test === 'nonFinite') {
        const w = { rule, layer: 0, since: null, fired: false };
        this.lossWatchers.push(w);
        this.all.push(w);
      }
      const byLayer = new Map<number, Watcher>();
      slots.forEach((s, i) => {
        if (s.window || s.layer === 0) return;
        const metrics = ruleMetrics(spec, s.layer === outputLayer);
        if (!(metrics.includes('*') || metrics.includes(s.metric))) return;
        let w = byLayer.get(s.layer);
        if (!w) {
          w = { rule, layer: s.layer, since: null, fired: false };
          byLayer.set(s.layer, w);
          this.all.push(w);
        }
        this.bySlot.set(i, [...(this.bySlot.get(i) ?? []), w]);
      });
    }
  }

  /** Each watcher's count so far, in a fixed order (a resumed run goes on counting). */
  state(): [number | null, boolean][] {
    return this.all.map((w) => [w.since, w.fired]);
  }

  restore(state: readonly (readonly [number | null, boolean])[]): void {
    if (state.length !== this.all.length) throw new Error(`rule state for ${state.length} watchers, this run has ${this.all.length}`);
    this.all.forEach((w, i) => { w.since = state[i][0]; w.fired = state[i][1]; });
  }

  /** The loss of a step, probed or not. */
  loss(step: number, loss: number): RuleEvent[] {
    return this.lossWatchers.flatMap((w) => this.check(w, step, { holds: holds(w.rule, loss, true), metric: 'loss', value: loss }));
  }

  /**
   * A probed step's values: `values[k + 1]` is the value of slot `active[k]`, `values[0]` the
   * loss. A watcher none of whose figures was measured this step learns nothing from it.
   */
  observe(step: number, values: Float32Array, active: readonly number[]): RuleEvent[] {
    const out = this.loss(step, values[0]);
    const seen = new Map<Watcher, Seen>();
    for (let k = 0; k < active.length; k++) {
      const ws = this.bySlot.get(active[k]);
      if (!ws) continue;
      const v = values[k + 1], metric = this.slots[active[k]].metric;
      for (const w of ws) {
        const h = holds(w.rule, v, false), cur = seen.get(w);
        if (!cur || (!cur.holds && h)) seen.set(w, { holds: h, metric, value: v });
      }
    }
    for (const [w, r] of seen) out.push(...this.check(w, step, r));
    return out;
  }

  private check(w: Watcher, step: number, r: Seen): RuleEvent[] {
    if (w.fired) return [];
    if (!r.holds) {
      w.since = null;
      return [];
    }
    w.since ??= step;
    if (step - w.since < w.rule.patience) return [];
    w.fired = true;
    const spec = RULES[w.rule.rule];
    const where = w.layer === 0 ? 'the loss' : `layer ${w.layer} ${r.metric}`;
    const cond = spec.test === 'nonFinite' ? `is ${fmt(r.value)}` : `${fmt(r.value)} ${RULE_RELATION[spec.test]} ${fmt(w.rule.threshold)}`;
    const span = w.rule.patience > 0 ? ` at every probed step since step ${w.since} (patience ${w.rule.patience} steps)` : '';
    return [{
      // as the trace stores them: NaN and ±∞ as null (JSON has no such numbers)
      rule: w.rule.rule, action: w.rule.action, step, since: w.since, layer: w.layer, metric: r.metric, value: finiteOrNull(r.value),
      threshold: finiteOrNull(w.rule.threshold), patience: w.rule.patience,
      text: `${w.rule.rule}: ${where} ${cond}${spec.test === 'belowNonZero' ? ' (and not 0)' : ''}${span}`,
    }];
  }
}

export { RuleAction };
