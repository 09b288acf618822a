/**
 * One Vega-Lite spec per chart. Specs name their data (`{name: 'series'}` …); the assembler
 * attaches the tables. Per-run charts share a variable parameter `pick` (the run, or the
 * combination when seeds are averaged) that the page drives from one selector.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Datasets } from './datasets.js';
import { VL_SCHEMA, type ChartPanel } from '../page/shell.js';
import { Metric, SHARE_METRICS } from '../trace/metrics.js';
import { END_SHARE } from '../read/diagnose-rules.js';
import { ProbeId } from '../probes/ids.js';
import { unionNeeds, type DigestNeeds, type SeriesNeed } from '../read/digest.js';

export interface Panel extends ChartPanel {
  readonly section: 'run' | 'across';
  /** datasets it draws from */
  readonly data: readonly (keyof Datasets)[];
  readonly spec: TopLevelSpec;
}

/**
 * What each per-run panel draws of a trace's per-step rows, declared before any trace is read (as
 * cockpit's instruments declare what they `require`): the digest keeps their union
 * ({@link REPORT_NEEDS}), and each panel draws the metrics it declared. A panel that draws a new
 * metric names it here, and the digest keeps it.
 */
export const PANEL_NEEDS = {
  'run-training': { series: [[ProbeId.loss, Metric.loss]] },
  'run-dead-relu': { series: [[ProbeId.deadRelu, Metric.inactiveFrac], [ProbeId.deadRelu, Metric.deadUnits], [ProbeId.deadRelu, Metric.deadRows]] },
  'run-units': { units: true },
  'run-saturation': { series: [[ProbeId.saturation, Metric.satFrac], [ProbeId.saturation, Metric.satWrongFrac], [ProbeId.saturation, Metric.meanDeriv]] },
  'run-gradients': { series: [[ProbeId.gradients, Metric.wGradNorm], [ProbeId.gradients, Metric.updateRatio]] },
  'run-distribution': { quantiles: true },
} as const satisfies Record<string, Partial<DigestNeeds>>;

/** What the report's panels need of each trace, together. */
export const REPORT_NEEDS: DigestNeeds = unionNeeds(Object.values(PANEL_NEEDS));

/** The metrics a panel declared, in its order. */
const drawn = (id: keyof typeof PANEL_NEEDS): string[] => [...(((PANEL_NEEDS[id] as Partial<DigestNeeds>).series ?? []) as readonly SeriesNeed[])].map(([, m]) => m);

const LAYER_COLOR = { field: 'layerName', type: 'nominal', title: 'layer', scale: { scheme: 'category10' } } as const;
/**
 * Axis labels without float noise: `1`, not `1.000000`; `0`, not `0.000000`; `10`, not `1e+1`.
 * Fixed-point ('f'): d3's tick format gives it as many decimals as the tick step has, so every
 * tick of a 0.02 step reads 0.1, 0.12. Significant digits ('r') count them from the domain's end
 * minus the step, which floats put below a power of ten (0.12 − 0.02 = 0.0999…): one digit short,
 * 0.12 printed as a second "0.1".
 */
export const NUM = { format: '~f' } as const;
/** log axes: `0.001` and `1e-7` alike */
const LOGNUM = { format: '~g' } as const;
/**
 * The page resizes a chart when its content changes (another run's legend): without it a
 * chart keeps its first size and clips a longer legend ("laye").
 */
const AUTOSIZE = { type: 'pad', resize: true } as const;

function pickParam(d: Datasets) {
  return { name: 'pick', value: d.picks[0] ?? '', bind: { input: 'select' as const, options: d.picks, name: d.aggregated ? 'combination ' : 'run ' } };
}

/** What else the per-run line charts draw over the chosen run. */
export const Overlay = { none: 'none', seeds: 'seeds', all: 'all' } as const;
export const OVERLAY_LABELS = { none: 'the chosen run only', seeds: 'all seeds of its combination', all: 'every run' } as const;
export const NO_RUN = '—';

function overlayParams(d: Datasets) {
  return [
    pickParam(d),
    { name: 'also', value: NO_RUN, bind: { input: 'select' as const, options: [NO_RUN, ...d.picks], name: 'with ' } },
    { name: 'overlay', value: Overlay.none, bind: { input: 'select' as const, options: Object.values(Overlay), labels: Object.values(OVERLAY_LABELS), name: 'overlay ' } },
  ];
}

/** Rows of the chosen run, the second chosen one, and the overlaid ones. */
const SHOWN = `datum.pick === pick || datum.pick === also || overlay === '${Overlay.all}' || (overlay === '${Overlay.seeds}' && datum.family === replace(pick, regexp('_s[0-9]+$'), ''))`;

/** Height of each per-step line chart and of one layer's row in its "exactly 0" strip. */
const LINE_HEIGHT = 160;
const PLOT_WIDTH = 220;
const STRIP_ROW = 7;

/** The chosen run's thresholds of a share metric (the `thresholds` table, thresholds.ts). */
const thresholdsOf = (metric: string) => ({ data: { name: 'thresholds' }, transform: [{ filter: `datum.pick === pick && datum.metric === ${JSON.stringify(metric)}` }] });
const THRESHOLD_DASH = { color: '#555', strokeDash: [5, 3], strokeWidth: 1.2 } as const;
const THRESHOLD_TOOLTIP = [{ field: 'label', title: 'threshold' }, { field: 'threshold', title: 'at' }, { field: 'detail', title: 'meaning' }];

/**
 * On the chart of a share: the thresholds of the rules that read it for the chosen run, each a
 * dashed rule. In the line's layer, they share its y scale: the axis always reaches the threshold,
 * so a share far below it is drawn as far below it. Their labels are in {@link thresholdKey}.
 */
function thresholdLayers(metric: string) {
  return [{ ...thresholdsOf(metric), mark: { type: 'rule', ...THRESHOLD_DASH }, encoding: { y: { field: 'threshold', type: 'quantitative', title: null }, tooltip: THRESHOLD_TOOLTIP } }];
}

/**
 * Under the chart of a share, outside its plot: a key of its dashed lines, one line of text per
 * rule (each names its threshold), the highest threshold first as on the chart. Drawn in the plot, by
 * its line, a label lay over the data wherever the share runs near its threshold (a dead_units of
 * 0.06–0.11 under a rule at 0.08 hid the line under the text, on either side of it).
 */
function thresholdKey(metric: string) {
  const shown = thresholdsOf(metric);
  return {
    ...shown,
    transform: [...shown.transform, { calculate: "split(datum.label, '\\n')", as: 'line' }, { flatten: ['line'] }],
    encoding: { y: { field: 'line', type: 'nominal', axis: null, sort: { field: 'threshold', order: 'descending' } }, tooltip: THRESHOLD_TOOLTIP },
    layer: [
      { mark: { type: 'rule', ...THRESHOLD_DASH }, encoding: { x: { value: 0 }, x2: { value: 18 } } },
      { mark: { type: 'text', color: THRESHOLD_DASH.color, align: 'left', baseline: 'middle', fontSize: 9 }, encoding: { x: { value: 22 }, text: { field: 'line' } } },
    ],
    width: PLOT_WIDTH,
    height: { step: 12 },
    // a key, not a plot: no frame (an empty one drew a stray line under the chart)
    view: { stroke: null },
  };
}
const DEATHS_TITLE = 'When ReLU units died';

/**
 * The least a share's linear axis reaches: 0.1, whatever its data and thresholds (fixed from the
 * plot's size, before looking at any run). Every share axis starts at 0 and reaches any threshold
 * drawn on it; without this floor a share under every threshold drew its axis over its own data:
 * a share exactly 0 throughout got the domain [0, 0], drawn as a line halfway up beside a lone "0"
 * tick, and a share of a few tenths of a percent filled the plot as if it rose. At 0.1 over the
 * plot's 160 px, a percentage point is 16 px: noise of a few tenths of a percent stays by the floor,
 * a share of a few percent (where a run's own low thresholds sit, 0.05–0.12 in our tests) still spans
 * the plot, and a share exactly 0 lies on the floor of an axis 0–0.1. The log view has no floor (its
 * axis cannot hold 0).
 */
export const SHARE_AXIS_MIN = 0.1;
/** What the captions of share charts say of their axes. */
const SHARE_AXES = `Every axis starts at 0; on the linear scale an axis of a share reaches at least ${SHARE_AXIS_MIN}, so a share near 0 is drawn by the floor, not magnified.`;
/** What the captions of share charts say of the dashed lines. */
const SHARE_RULE_LINES = 'A dashed line is the threshold of a rule that reads the share, as in force for the chosen run (named under the chart; hover it for what it means), and the axis always reaches it:';

/** Per metric of the per-step series, the picks (runs, or combinations) that record it. */
function recordedBy(d: Datasets): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of d.series) (out.get(r.metric as string) ?? out.set(r.metric as string, new Set()).get(r.metric as string)!).add(r.pick as string);
  return out;
}

/**
 * Why a run may lack a metric its panel draws: the probes record it only on some layers (the
 * activations' specs say which can die or saturate), so a run without such a layer has none.
 */
const DIE = ['it is recorded only for layers', "whose units can die, as a ReLU's"];
const SATURATE = ['it is recorded only for layers', 'that can saturate'];
const RECORDED_ONLY: Readonly<Record<string, readonly string[]>> = {
  // lines of the statement in its plot (220 px wide); the caption joins them
  [Metric.inactiveFrac]: DIE, [Metric.deadUnits]: DIE, [Metric.deadRows]: DIE,
  [Metric.satFrac]: SATURATE, [Metric.meanDeriv]: SATURATE,
  [Metric.satWrongFrac]: ['it is recorded only for an output', 'layer that can saturate'],
};
const recordedOnly = (m: string) => (RECORDED_ONLY[m] ? ` (${RECORDED_ONLY[m].join(' ')})` : '');

/**
 * A panel's metrics split by whether any run on the page records them: a chart of a metric no
 * run records would be an empty axis ("0" alone), which reads as a share of 0 rather than as a
 * figure that does not apply; it is not drawn, and the caption says so ({@link absenceNote}).
 */
function splitRecorded(metrics: readonly string[], recorded: ReadonlyMap<string, ReadonlySet<string>>) {
  const drawnHere = metrics.filter((m) => (recorded.get(m)?.size ?? 0) > 0);
  // a panel whose probe recorded none of them is not drawn at all (need()): never an empty panel here
  return { drawn: drawnHere.length ? drawnHere : [...metrics], absent: metrics.filter((m) => !drawnHere.includes(m)) };
}

/** The caption's sentence on the metrics not drawn, and on runs that lack a drawn one. */
function absenceNote(d: Datasets, metrics: readonly string[], recorded: ReadonlyMap<string, ReadonlySet<string>>): string {
  const { drawn: shown, absent } = splitRecorded(metrics, recorded);
  const parts = absent.map((m) => `No chart of ${m}: no ${d.aggregated ? 'combination' : 'run'} here records it${recordedOnly(m)}.`);
  const partly = shown.filter((m) => (recorded.get(m)?.size ?? 0) < d.picks.length);
  if (partly.length) parts.push(`When the chosen ${d.aggregated ? 'combination' : 'run'} does not record ${partly.join(' or ')}, its chart says so.`);
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/**
 * Per-step metrics, one chart per metric side by side, lines per layer (colour) and run (dash, in
 * the legend when runs are overlaid). On a log axis a value exactly 0 cannot be drawn: the line
 * then draws the mean of a bucket's other steps (a mean with the zeros would fall towards 0 and
 * read as a gradient that vanishes), breaks where every step is 0, and a strip under the chart
 * marks each bucket holding zeros, one row per layer, darker for a larger share of its steps — a
 * dead layer is drawn as dead, not as vanishing.
 */
function metricsOverSteps(d: Datasets, all: readonly string[], recorded: ReadonlyMap<string, ReadonlySet<string>>, opts: { log?: boolean; title: string }): TopLevelSpec {
  const metrics = splitRecorded(all, recorded).drawn;
  const x = { field: 'step', type: 'quantitative', title: 'step', axis: NUM } as const;
  // A share's floor ({@link SHARE_AXIS_MIN}) is one more value on its y scale, from a layer that
  // draws nothing: vega-lite's scale.domain.unionWith is an explicit domain, which on one layer
  // drops the other layers' data (the thresholds) from the union and, on each, is a conflict it
  // warns of. The log view has none: its axis cannot hold 0.
  const floorLayer = (metric: string) => (opts.log || !SHARE_METRICS.has(metric) ? [] : [{
    data: { values: [{ floor: SHARE_AXIS_MIN }] },
    mark: { type: 'rule', opacity: 0 },
    encoding: { y: { field: 'floor', type: 'quantitative', title: null } },
  }]);
  // in the plot of a metric some runs lack: for a chosen one of them, a statement that it has no
  // such figure, not an empty axis that reads as a share of 0
  const lackingLayer = (metric: string) => {
    const lacking = d.picks.filter((p) => !recorded.get(metric)?.has(p));
    if (!lacking.length) return [];
    const text = [`no ${metric} in the chosen ${d.aggregated ? 'combination' : 'run'}`, ...(RECORDED_ONLY[metric] ?? [])];
    return [{
      data: { values: lacking.map((pick) => ({ pick, metric })) },
      transform: [{ filter: 'datum.pick === pick' }],
      mark: { type: 'text', color: '#555', fontSize: 10, align: 'center', baseline: 'middle', lineBreak: '\n' },
      encoding: { x: { value: PLOT_WIDTH / 2 }, y: { value: LINE_HEIGHT / 2 }, text: { value: text.join('\n') } },
    }];
  };
  const chartOf = (metric: string) => ({
    vconcat: [
      {
        title: metric,
        layer: [
          // first, under the others: an invisible mark on top would take the pointer from a threshold at the floor
          ...floorLayer(metric),
          {
            transform: [
              { filter: `datum.metric === ${JSON.stringify(metric)}` },
              // on a log axis: a bucket's steps other than its zeros; nothing where all are 0 (a break,
              // while the row still spans the x axis, so the axis covers the whole run)
              ...(opts.log ? [{ calculate: 'datum.zero > 0 ? datum.nz : datum.value', as: 'value' }, { calculate: 'datum.value > 0 ? datum.value : null', as: 'value' }] : []),
            ],
            encoding: {
              x,
              y: { field: 'value', type: 'quantitative', title: null, scale: opts.log ? { type: 'log' } : { zero: true }, axis: opts.log ? LOGNUM : NUM },
              color: LAYER_COLOR,
              detail: { field: 'pick' },
              opacity: { condition: { test: 'datum.pick === pick', value: 1 }, value: 0.45 },
              tooltip: [{ field: 'pick', title: 'run' }, { field: 'layerName', title: 'layer' }, { field: 'metric' }, { field: 'step' }, { field: 'value', format: '.4~g' }, ...(opts.log ? [{ field: 'zero', title: 'share of steps exactly 0', format: '.0%' }] : [])],
            },
            layer: [
              {
                mark: { type: 'line', interpolate: 'monotone', strokeWidth: 1.5, invalid: 'break-paths-show-domains' },
                encoding: { strokeDash: { field: 'pick', type: 'nominal', title: 'run', legend: { labelLimit: 260 } } },
              },
              // a bucket with zeros and other steps: a dot at the size of the others (alone between two
              // buckets of zeros it has no line to sit on)
              // (the same handling of missing values as the line: a layer that filtered them would filter the line's too, and bridge its breaks)
              // (smaller the more of its steps are 0, so a bucket of zeros with one step of gradient reads as the zeros it mostly is)
              ...(opts.log ? [{ transform: [{ filter: 'datum.zero > 0 && isValid(datum.value)' }], mark: { type: 'point', filled: true, invalid: 'break-paths-show-domains' }, encoding: { size: { field: 'zero', type: 'quantitative', scale: { domain: [0, 1], range: [40, 3] }, legend: null } } }] : []),
            ],
          },
          ...(SHARE_METRICS.has(metric) ? thresholdLayers(metric) : []),
          ...lackingLayer(metric),
        ],
        width: PLOT_WIDTH,
        height: LINE_HEIGHT,
      },
      ...(opts.log ? [{
        title: { text: 'steps exactly 0 (darker: more of the bucket)', fontSize: 10, fontWeight: 'normal', anchor: 'start' },
        transform: [{ filter: `datum.metric === ${JSON.stringify(metric)} && datum.zero > 0` }],
        mark: { type: 'rect' },
        encoding: {
          x: { ...x, axis: null },
          x2: { field: 'stepEnd' },
          y: { field: 'layerName', type: 'nominal', title: null, axis: { labels: false, ticks: false, domain: false } },
          color: LAYER_COLOR,
          fillOpacity: { field: 'zero', type: 'quantitative', scale: { domain: [0, 1], range: [0.2, 1] }, legend: null },
          tooltip: [{ field: 'pick', title: 'run' }, { field: 'layerName', title: 'layer' }, { field: 'step', title: 'from step' }, { field: 'stepEnd', title: 'to step' }, { field: 'zero', title: 'share of steps exactly 0', format: '.0%' }, { field: 'nz', title: 'mean of the other steps', format: '.4~g' }],
        },
        width: PLOT_WIDTH,
        height: { step: STRIP_ROW },
      }] : []),
      ...(SHARE_METRICS.has(metric) ? [thresholdKey(metric)] : []),
    ],
    resolve: { scale: { x: 'shared', y: 'independent' } },
  });
  return {
    $schema: VL_SCHEMA,
    title: opts.title,
    params: overlayParams(d),
    data: { name: 'series' },
    transform: [{ filter: SHOWN }, { filter: { field: 'metric', oneOf: [...metrics] } }],
    hconcat: metrics.map(chartOf),
    resolve: { scale: { y: 'independent' } },
    autosize: AUTOSIZE,
  } as TopLevelSpec;
}

export function panels(d: Datasets, has: { probes: ReadonlySet<string>; h1: boolean; h2: boolean; deaths: boolean; study?: boolean }): { panels: Panel[]; skipped: string[] } {
  const out: Panel[] = [];
  const skipped: string[] = [];
  const need = (probe: string, title: string) => (has.probes.has(probe) ? true : (skipped.push(`${title}: no run recorded the '${probe}' probe`), false));
  const perRun = d.aggregated ? 'mean over the seeds of the chosen combination' : 'the chosen run';
  const recorded = recordedBy(d);
  const overSteps = (id: keyof typeof PANEL_NEEDS, title: string, log?: boolean) => metricsOverSteps(d, drawn(id), recorded, { title, log });
  const absent = (id: keyof typeof PANEL_NEEDS) => absenceNote(d, drawn(id), recorded);
  out.push({
    id: 'run-training', title: 'Training', section: 'run', data: ['series', 'evals'],
    caption: `Train loss per step (bucket means) and test accuracy after each epoch, for ${perRun}.`,
    spec: {
      $schema: VL_SCHEMA,
      params: [pickParam(d)],
      autosize: AUTOSIZE,
      hconcat: [
        {
          title: 'train loss',
          data: { name: 'series' },
          transform: [{ filter: `datum.pick === pick && datum.metric === "${drawn('run-training')[0]}"` }],
          mark: { type: 'line', strokeWidth: 1.5 },
          encoding: { x: { field: 'step', type: 'quantitative', axis: NUM }, y: { field: 'value', type: 'quantitative', title: 'loss', axis: NUM } },
          width: 260, height: 160,
        },
        {
          title: 'test accuracy',
          data: { name: 'evals' },
          transform: [{ filter: 'datum.pick === pick' }],
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } },
            y: { aggregate: 'mean', field: 'testAcc', type: 'quantitative', title: 'test accuracy', scale: { domain: [0, 1] }, axis: NUM },
          },
          width: 260, height: 160,
        },
      ],
    },
  });
  if (need('dead-relu', 'Dead ReLUs')) {
    out.push({
      id: 'run-dead-relu', title: 'Dead ReLUs', section: 'run', data: ['series', 'thresholds'],
      caption: `ReLU layers only. inactive_frac: share of (unit, sample) entries with z ≤ 0; dead_units: share of units inactive for the whole batch; dead_rows: share of samples for which the whole layer is inactive (on the output layer: every logit is 0 and the prediction is uniform). ${SHARE_AXES} ${SHARE_RULE_LINES} on dead_units and dead_rows those of the rules dead-layer and dead-output when the run was given them; "What is wrong" counts dead units from the per-unit activity windows, not from these shares, so it draws no line here: its count of each layer's dead units is in What is wrong at the top of this page${has.deaths ? `, and each of those units at its step of death in ${DEATHS_TITLE}, below` : ''}.${absent('run-dead-relu')} Shown for ${perRun}.`,
      spec: overSteps('run-dead-relu', 'dead ReLUs per layer'),
      logSpec: overSteps('run-dead-relu', 'dead ReLUs per layer', true),
    });
    if (d.units.length > 0) {
      out.push({
        id: 'run-units', title: 'Per-unit activity', section: 'run', data: ['units'],
        caption: `Layers of at most 16 units (the per-unit figures of dead-relu, or else the unit-activity windows): the share of the batch for which each unit is active (z > 0), per unit (rows) and step (columns); a unit that turns dark and stays dark has died — the unit-level view of dead_units above. ${d.aggregated ? 'The first seed of the chosen combination' : 'The chosen run'}.`,
        spec: {
          $schema: VL_SCHEMA,
          title: 'per-unit activity',
          params: [pickParam(d)],
          data: { name: 'units' },
          transform: [{ filter: 'datum.pick === pick' }],
          facet: { row: { field: 'layerName', type: 'nominal', title: null } },
          spec: {
            mark: 'rect',
            encoding: {
              x: { field: 'step', type: 'quantitative', title: 'step', axis: NUM },
              x2: { field: 'stepEnd' },
              y: { field: 'unit', type: 'ordinal', title: 'unit' },
              color: { field: 'value', type: 'quantitative', title: 'active share', scale: { domain: [0, 1], scheme: 'viridis' } },
              tooltip: [{ field: 'layerName', title: 'layer' }, { field: 'unit' }, { field: 'step' }, { field: 'value', format: '.3~g', title: 'active share' }],
            },
            width: 480, height: { step: 9 },
          },
          // a shared unit axis: an independent one with a step height fails to render in vega 6
          autosize: AUTOSIZE,
        } as TopLevelSpec,
      });
    }
  }
  if (need('saturation', 'Saturation')) {
    out.push({
      id: 'run-saturation', title: 'Saturation', section: 'run', data: ['series', 'thresholds'],
      caption: `Sigmoid, tanh and selu layers. sat_frac: share of outputs at the extremes (thresholds recorded in each trace) — on the output layer information, not a fault: a trained classifier's outputs sit at the extremes the loss pushes them to; sat_wrong_frac (output layer only): share of its outputs at an extreme the loss pushes them away from, the output's saturation that blocks learning; mean_deriv: mean local derivative, the factor that scales the gradient flowing back through the layer. ${SHARE_AXES} ${SHARE_RULE_LINES} here the saturation of "What is wrong" (sat_frac of hidden layers, sat_wrong_frac of the output, mean over the last ${100 * END_SHARE}% of steps) and the rule saturation when the run was given it; the output's sat_frac has none: no rule reads it.${absent('run-saturation')} Shown for ${perRun}.`,
      spec: overSteps('run-saturation', 'saturation per layer'),
      logSpec: overSteps('run-saturation', 'saturation per layer', true),
    });
  }
  if (need('gradients', 'Gradients')) {
    out.push({
      id: 'run-gradients', title: 'Gradients', section: 'run', data: ['series'],
      caption: `‖dL/dW‖ per layer and the update-to-weight ratio ‖ΔW‖/‖W‖, log scale. A step whose value is exactly 0 (no gradient at all: the layer does not learn) cannot sit on a log axis: the strip under each chart marks the buckets of steps holding such steps, one row per layer, darker for a larger share of the bucket; the line draws the mean of the bucket's other steps and breaks where all are 0. Smoothing restarts after every bucket holding a 0, so it never draws a decay into it.${absent('run-gradients')} Shown for ${perRun}.`,
      spec: overSteps('run-gradients', 'gradient size per layer', true),
    });
  }
  if (need('distribution', 'Distributions')) {
    const band = (lo: string, hi: string, opacity: number) => ({
      mark: { type: 'area' as const, opacity, color: '#1f77b4' },
      encoding: { x: { field: 'step', type: 'quantitative' as const, title: 'step', axis: NUM }, y: { field: lo, type: 'quantitative' as const, title: null, axis: NUM }, y2: { field: hi } },
    });
    out.push({
      id: 'run-distribution', title: 'Distributions of z and a', section: 'run', data: ['quantiles'],
      caption: `Per layer, the pre-activation z (left) and the output a (right) over all units and samples of a batch, every --distribution-every steps: bands from the outside in are the 1–99%, 5–95% and 25–75% ranges, the line the median; the dashed rule is 0. An output ReLU whose z bands sink below 0 is dying; a sigmoid whose a bands pile up at 0 or 1 is saturating. ${d.aggregated ? 'The first seed of the chosen combination' : 'The chosen run'}.`,
      spec: {
        $schema: VL_SCHEMA,
        title: 'distribution of z and a per layer',
        params: [pickParam(d)],
        data: { name: 'quantiles' },
        transform: [{ filter: 'datum.pick === pick' }],
        facet: { row: { field: 'layerName', type: 'nominal', title: null }, column: { field: 'of', type: 'nominal', title: null, sort: ['z', 'a'] } },
        spec: {
          layer: [
            band('p1', 'p99', 0.15), band('p5', 'p95', 0.25), band('p25', 'p75', 0.4),
            { mark: { type: 'line', color: '#1f77b4', strokeWidth: 1.5 }, encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'p50', type: 'quantitative' } } },
            { mark: { type: 'rule', color: '#888', strokeDash: [3, 3] }, encoding: { y: { datum: 0 } } },
          ],
          width: 260, height: 110,
        },
        resolve: { scale: { y: 'independent' } },
        autosize: AUTOSIZE,
      } as TopLevelSpec,
    });
  }
  if (d.grid.length > 0) {
    out.push({
      id: 'grid', title: 'Final test accuracy by combination', section: 'across', data: ['grid'],
      caption: 'Final test accuracy, mean ± standard deviation over seeds (in %), for each combination: layer 1 down, layer 2 across, one panel per output activation.',
      spec: {
        $schema: VL_SCHEMA,
        data: { name: 'grid' },
        facet: {
          column: { field: 'l3', type: 'nominal', title: 'output layer (3)' },
          ...(d.variants.length > 1 ? { row: { field: 'variant', type: 'nominal', title: null } } : {}),
        },
        spec: {
          layer: [
            { mark: 'rect', encoding: { color: { field: 'mean', type: 'quantitative', title: 'test acc', scale: { domain: [0, 1], scheme: 'viridis' } } } },
            { mark: { type: 'text', fontSize: 9 }, encoding: { text: { field: 'label' }, color: { condition: { test: 'datum.mean < 0.6', value: 'white' }, value: 'black' } } },
          ],
          encoding: {
            x: { field: 'l2', type: 'nominal', title: 'layer 2', sort: ['relu', 'tanh', 'sigmoid', 'selu'] },
            y: { field: 'l1', type: 'nominal', title: 'layer 1', sort: ['relu', 'tanh', 'sigmoid', 'selu'] },
            tooltip: [{ field: 'combo' }, { field: 'mean', format: '.2%' }, { field: 'sd', format: '.2%' }, { field: 'n', title: 'seeds' }],
          },
          width: { step: 66 }, height: { step: 30 },
        },
      },
    });
  }
  for (const h of ['h1', 'h2'] as const) {
    // a page without runs of the study's MLP has no H1/H2 measures to miss
    if (!has[h]) { if (has.study !== false) skipped.push(`accuracy against the ${h.toUpperCase()} measure: no run has it`); continue; }
    out.push({
      id: `accuracy-vs-${h}`, title: `Accuracy against the ${h.toUpperCase()} measure`, section: 'across', data: ['runs'],
      caption: h === 'h1'
        ? 'One point per run with a ReLU output layer: H1\'s primary measure, the share of (test input, output unit) pairs with z ≤ 0 at the last evaluation, against final test accuracy. Hollow points: runs that failed (accuracy more than 10 points below the controls\' median).'
        : 'One point per run with a sigmoid, tanh or selu layer before the output: H2\'s primary measure, the share of (test input, unit) pairs of that layer at its extremes at the last evaluation, against final test accuracy. Hollow points: runs that failed.',
      spec: {
        $schema: VL_SCHEMA,
        data: { name: 'runs' },
        transform: [{ filter: `isValid(datum.${h}) && isValid(datum.finalAcc)` }],
        mark: { type: 'point', opacity: 0.85, strokeWidth: 2 },
        encoding: {
          x: { field: h, type: 'quantitative', title: h === 'h1' ? 'output (input, unit) pairs with z ≤ 0 (H1)' : 'pairs of the layer before the output at its extremes (H2)', scale: { domain: [0, 1] } },
          fill: { condition: { test: 'datum.failed === true', value: 'transparent' }, field: 'group', type: 'nominal', scale: { domain: ['target', 'C1', 'C2'], range: ['#d62728', '#1f77b4', '#2ca02c'] }, legend: null },
          y: { field: 'finalAcc', type: 'quantitative', title: 'final test accuracy', scale: { domain: [0, 1] } },
          color: { field: 'group', type: 'nominal', scale: { domain: ['target', 'C1', 'C2'], range: ['#d62728', '#1f77b4', '#2ca02c'] } },
          tooltip: [{ field: 'run' }, { field: h, format: '.3f' }, { field: 'finalAcc', format: '.2%' }, { field: 'failed' }],
        },
        width: 320, height: 220,
      },
    });
  }
  if (has.deaths) {
    out.push({
      id: 'deaths', title: DEATHS_TITLE, section: 'across', data: ['deaths'],
      caption: 'ReLU units (any layer) that stayed inactive for every probed training input from some window of steps to the end of the run (for at least a tenth of the run): one mark per unit, at the first step of the window it died in, colored by layer.',
      spec: {
        $schema: VL_SCHEMA,
        data: { name: 'deaths' },
        transform: [{ filter: 'isValid(datum.step)' }],
        mark: { type: 'tick', thickness: 2 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'step of death', axis: NUM },
          y: { field: 'combo', type: 'nominal', title: null },
          color: { field: 'layer', type: 'nominal', title: 'layer', scale: { scheme: 'category10' } },
          tooltip: [{ field: 'run' }, { field: 'layer' }, { field: 'unit' }, { field: 'step' }, { field: 'epoch' }],
        },
        width: 420,
      },
    });
  } else {
    skipped.push('time of death: no trace has per-unit figures of a ReLU layer');
  }
  if (d.attribution.length > 0) {
    out.push({
      id: 'attribution', title: 'Error attribution', section: 'across', data: ['attribution'],
      caption: 'For each run, its misclassified test inputs at the last evaluation split by which candidate causes apply to them (each bar adds up to 1): true_unit_off = the true class\'s output ReLU has z ≤ 0 (H1\'s mechanism); prev_saturated = most units of the layer before the output are at their extremes (H2\'s); grad_vanished = the gradient of that input\'s loss reaching the layer before the output is below a tenth of its size before training.',
      spec: {
        $schema: VL_SCHEMA,
        data: { name: 'attribution' },
        mark: 'bar',
        encoding: {
          y: { field: 'run', type: 'nominal', title: null, sort: null },
          x: { field: 'share', type: 'quantitative', stack: 'zero', title: 'share of the run\'s errors', scale: { domain: [0, 1] } },
          color: { field: 'cell', type: 'nominal', title: 'causes that apply', scale: { scheme: 'tableau10' } },
          tooltip: [{ field: 'run' }, { field: 'cell' }, { field: 'share', format: '.1%' }],
        },
        width: 380,
      },
    });
  }
  if (d.claims.length > 0) {
    out.push({
      id: 'hypotheses', title: 'Hypothesis claims with 95% intervals', section: 'across', data: ['claims'],
      caption: 'Each claim\'s statistic with its two-stage bootstrap 95% interval; the grey tick is the line the interval must clear (0.5 for A and M, 0 for B and C; C must lie below it).',
      spec: {
        $schema: VL_SCHEMA,
        data: { name: 'claims' },
        // whole claims: the default 180 px limit cut them to '…'
        encoding: { y: { field: 'claim', type: 'nominal', title: null, sort: null, axis: { labelLimit: 560 } } },
        layer: [
          { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x: { field: 'lo', type: 'quantitative', title: 'estimate and 95% CI' }, x2: { field: 'hi' }, color: { field: 'holds', type: 'nominal', title: null, scale: { domain: ['as predicted', 'undecided', 'against'], range: ['#2ca02c', '#7f7f7f', '#d62728'] } } } },
          { mark: { type: 'point', filled: true, size: 60 }, encoding: { x: { field: 'estimate', type: 'quantitative' }, color: { field: 'holds', type: 'nominal' } } },
          { mark: { type: 'tick', color: '#999', thickness: 2 }, encoding: { x: { field: 'threshold', type: 'quantitative' } } },
        ],
        width: 380,
      },
    });
  }
  return { panels: out, skipped };
}
