/**
 * `probe report`: traces in, a dashboard that tests the study's hypotheses out.
 *
 *   load      collect .arrow paths (read/folder.ts); read each trace and reduce it to a digest
 *             (read/digest.ts), one at a time, so memory holds digests, not traces
 *   derive    group runs; prevalence of failure, H1 and H2 with two-stage bootstrap intervals
 *             (study/hypotheses.ts, read/stats.ts, rules in study/study.ts); --bn last pairs
 *             (study/interventions.ts); one diagnosis line per run (study/diagnosis-line.ts); the
 *             chart tables (datasets.ts)
 *   panels    one Vega-Lite spec per chart (panels.ts); a panel whose probe no run recorded is
 *             skipped with a warning
 *   assemble  index.html (html.ts), each spec as .vl.json, .svg and .png (render.ts), verdicts.json
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { basename, dirname, join, parse, resolve, sep } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { ProbeError, ErrorCode, isProbeError } from '../errors.js';
import { ensureWritableDir, errnoCode, isDirectory, StagedWrites } from '../fs-util.js';
import { msg } from '../messages.js';
import { readTrace } from '../trace/reader.js';
import { lockHolder } from '../trace/run-lock.js';
import { RunStatus } from '../trace/schema.js';
import { probeVersion } from '../versions.js';
import { collectTraces } from '../read/folder.js';

export { collectTraces };
import { digestTrace, MAX_POINTS, type RunDigest } from '../read/digest.js';
import { PROBE_IDS, ProbeId } from '../probes/ids.js';
import { Metric } from '../trace/metrics.js';
import { AGGREGATED_POINTS, buildDatasets, PER_RUN_LIMIT, withZeros, type Datasets, type Row } from './datasets.js';
import { prevalences as testPrevalences, testHypotheses, MIN_RUNS, type HypothesisResult, type Prevalence } from '../study/hypotheses.js';
import { diagnose, type Diagnosis } from '../study/diagnosis-line.js';
import type { RunDiagnosis } from '../read/diagnose.js';
import { pairInterventions, type Interventions } from '../study/interventions.js';
import { attributionByGroup, type GroupAttribution } from '../study/attribution.js';
import { COVERS, Diag, FAIL_MARGIN, GRAD_VANISHED, MOST } from '../study/study.js';
import { pageHtml, type PageInput } from './html.js';
import { readReference, reproduce, type Reference, type Reproduction } from '../study/reference.js';
import { panels as buildPanels, REPORT_NEEDS, type Panel } from './panels.js';
import { toPng, toSvg } from './render.js';
import { BOOTSTRAP_RESAMPLES } from '../read/stats.js';
import { checkGroupKeys, groupValues, settingLabel } from '../read/settings.js';
import { checkOptions, optionKeys } from '../options.js';
import { STUDY_EPOCHS, STUDY_TRAIN } from '../read/diagnose-rules.js';

export interface ReportOptions {
  /** output folder; default `<folder>/report` for a single folder input, else `report` */
  readonly out?: string;
  readonly force?: boolean;
  /** skip SVG and PNG files (the page and specs are still written) */
  readonly noImages?: boolean;
  /** a CSV of published accuracies per combination: the page sets the runs beside them (study/reference.ts) */
  readonly reference?: string;
  /**
   * settings to keep apart (read/settings.ts GROUP_KEYS: `lr`, `epochs`, …): runs are grouped, and
   * the hypotheses tested, per dataset and batch norm (the variant) and per value of each of these
   */
  readonly by?: readonly string[];
  readonly onWarning?: (text: string) => void;
  /** `text` for a status line; `at` says the phase and how far it is, for callers that count */
  readonly onProgress?: (text: string, at: ReportProgress) => void;
}

export interface ReportProgress {
  readonly phase: 'read' | 'render' | 'write';
  /** items of the phase done before this one: traces read, charts rendered */
  readonly done: number;
  readonly total: number;
}

export interface ReportResult {
  readonly out: string;
  readonly files: readonly string[];
  readonly runs: number;
  readonly truncated: number;
  /** runs still training when read (their file says running and a live process holds their lock): charted, not in the verdicts */
  readonly inFlight: number;
  /** runs whose loss or weights stopped being finite (counted with the epochs finished before) */
  readonly diverged: number;
  /** runs a rule stopped (--stop-when), evaluated where they stopped */
  readonly stopped: number;
  readonly hypotheses: readonly HypothesisResult[];
  readonly prevalences: readonly Prevalence[];
  readonly interventions: readonly Interventions[];
  readonly diagnoses: readonly Diagnosis[];
  /** what is wrong with each run, for any network (read/diagnose.ts) */
  readonly health: readonly RunDiagnosis[];
  /** whether any run is of the study's MLP (else there are no verdicts to read) */
  readonly study: boolean;
  /** per variant, a note when its verdicts come from runs shorter than the study's schedule */
  readonly studyShort: Readonly<Record<string, string>>;
  readonly attribution: readonly GroupAttribution[];
  /** the runs beside the published figures of `reference`; null without one */
  readonly reproduction: Reproduction | null;
  readonly panels: readonly string[];
  readonly skipped: readonly string[];
  readonly htmlBytes: number;
}

/**
 * Where a report goes when no --out is given: beside its input. One folder (or a sweep index):
 * `<folder>/report`; several inputs: `report/` in the deepest folder holding them all (files count
 * by their folder) — or, when that is the file system's root, in the first input's folder.
 */
export function defaultReportDir(inputs: readonly string[]): string {
  const folders = inputs.map((i) => (isDirectory(i) ? resolve(i) : dirname(resolve(i))));
  if (folders.length === 0) return 'report';
  const parts = folders.map((f) => f.split(sep));
  let n = 0;
  while (parts.every((p) => n < p.length && p[n] === parts[0][n])) n++;
  const common = parts[0].slice(0, n).join(sep) || sep;
  return join(common === parse(common).root ? folders[0] : common, 'report');
}

function notes(d: Datasets, digests: readonly RunDigest[]): string[] {
  const bucket = Math.max(...digests.map((x) => x.bucket));
  const study = digests.some((x) => x.study);
  return [
    `Per-step series are means over buckets of consecutive steps, at most ${MAX_POINTS} points per run (here up to ${bucket} steps per point); values on the page are rounded to 4 significant digits.`,
    d.aggregated
      ? `With more than ${PER_RUN_LIMIT} runs, per-run charts show the mean over the seeds of a combination, in at most ${AGGREGATED_POINTS} points; every run still counts in the statistics.`
      : 'Per-run charts show one run at a time; pick it above them.',
    `"What is wrong" applies the same rules to every run, whatever the network (read/diagnose-rules.ts; its rules are listed under it): dead units from the per-unit activity windows, saturation, exactly-zero, vanishing and exploding gradients and non-finite values from the per-step probes, and the verdict from the final accuracy against chance.`,
    ...(study ? [
      `The hypotheses' measures and the error attribution are taken on the test set at each evaluation (before training and after every epoch); verdicts use the last one. Per-step charts are training-batch figures. Final accuracy is the test accuracy after the last finished epoch. Truncated runs count with the epochs they finished.`,
      `Groups by the last two layers: target = (sigmoid, relu); C1 = (tanh|relu|selu, relu); C2 = (sigmoid, tanh|sigmoid|selu). Runs in none of them only appear in the grid and the diagnosis table.`,
    ] : []),
    ...attachedNote(digests),
    ...(study ? [
      `Rules, fixed before the data: a run fails if its final accuracy is at or near chance (at most 1/classes + ${100 * FAIL_MARGIN} points) or more than ${100 * FAIL_MARGIN} points below the controls' median; "most" is more than ${MOST}; a cause explains a failure when it covers more than ${COVERS} of the errors; a gradient has vanished below ${GRAD_VANISHED} of its size before training.`,
      `Intervals: percentile bootstrap, ${BOOTSTRAP_RESAMPLES} resamples in two stages (combinations with replacement, then seeds within each), seeded (the same traces give the same page). A and M: mean over the failing target runs; B: difference of group means, each group resampled separately; C: Spearman rank correlation with final test accuracy over target ∪ control. A and M need ${MIN_RUNS} failing target runs, B and C ${MIN_RUNS} runs per group. The intervals are not corrected for multiple comparisons: read them as descriptive.`,
    ] : []),
  ];
}

/** Runs of attached models: charted per run, never counted in the study's groups. */
function attachedNote(digests: readonly RunDigest[]): string[] {
  const models = digests.filter((d) => !d.study);
  if (models.length === 0) return [];
  const names = models.slice(0, 5).map((d) => d.run).join(', ') + (models.length > 5 ? ', …' : '');
  if (digests.every((d) => !d.study)) return [`The runs here are of attached models (${names}): "What is wrong" and the per-run charts are about them. The study's hypotheses are about its own MLP (784-500-256-10 trained by probe), so this page has no H1/H2 section.`];
  return [`${models.length} run(s) of attached models (${names}) appear in "What is wrong" and the per-run charts only. The hypotheses are about the study's MLP (784-500-256-10 trained by probe), so its groups and tests apply to probe's own runs, not to these.`];
}

/** A table as a chart file carries it: series rows with their zeros joined, as the page joins them. */
const tableOf = (d: Datasets, n: keyof Datasets): Row[] => (n === 'series' ? withZeros(d.series, d.zeros) : (d[n] as Row[]));

function withData(spec: TopLevelSpec, d: Datasets, names: readonly (keyof Datasets)[]): TopLevelSpec {
  return { ...spec, datasets: Object.fromEntries(names.map((n) => [n, tableOf(d, n)])) } as TopLevelSpec;
}

/**
 * A chart as a file (.vl.json, .svg, .png) shows one state of the page: per-run charts show the
 * default run, say so in a subtitle, and carry only its rows (not every run's: 1.8 MB each).
 */
export function fileSpec(p: Panel, d: Datasets): TopLevelSpec {
  if (p.section !== 'run') return withData(p.spec, d, p.data);
  const pick = d.picks[0] ?? '';
  const only = Object.fromEntries(p.data.map((n) => [n, tableOf(d, n).filter((r) => !('pick' in r) || r.pick === pick)]));
  const spec = p.spec as TopLevelSpec & { title?: unknown };
  const text = typeof spec.title === 'string' ? spec.title : p.title;
  return { ...spec, title: { text, subtitle: `${d.aggregated ? 'combination' : 'run'} ${pick}` }, datasets: only } as TopLevelSpec;
}

/** Whether `dir` holds a report probe wrote: its verdicts.json and an index.html titled "probe report…". */
function isProbeReport(dir: string): boolean {
  if (!existsSync(join(dir, 'verdicts.json'))) return false;
  let fd: number | null = null;
  try {
    fd = openSync(join(dir, 'index.html'), 'r');
    const head = Buffer.alloc(4096);
    const n = readSync(fd, head, 0, head.length, 0);
    return /<title>probe report/.test(head.subarray(0, n).toString('utf8'));
  } catch {
    return false;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

const REPORT_OPTION_KEYS = optionKeys<ReportOptions>({ out: 1, force: 1, noImages: 1, reference: 1, by: 1, onWarning: 1, onProgress: 1 });

export async function buildReport(inputs: readonly string[], opts: ReportOptions = {}): Promise<ReportResult> {
  checkOptions('buildReport', opts, REPORT_OPTION_KEYS);
  const out = resolve(opts.out ?? defaultReportDir(inputs));
  const paths = collectTraces(inputs, opts.onWarning);
  // a bad reference file is one line before anything is read or written
  const reference = opts.reference === undefined ? null : readReference(opts.reference);
  // check the destination before the (possibly long) reading
  const previous = existsSync(join(out, 'index.html'));
  // a report replaces its own earlier output (run, report, run more, report again); a page it did not write needs --force
  if (!opts.force && previous && !isProbeReport(out)) throw new ProbeError(ErrorCode.exists, msg.reportExists(out));
  const created = !existsSync(out);
  ensureWritableDir(out);
  // the charts of the report being replaced, to remove those the new one does not draw
  const oldCharts = previous ? readdirSync(out).filter((f) => f.endsWith('.vl.json')).map((f) => f.slice(0, -'.vl.json'.length)) : [];
  const staged = new StagedWrites();
  try {
    const r = await writeReport(inputs, paths, out, opts, reference, staged);
    staged.commit();
    for (const id of oldCharts) for (const ext of ['.vl.json', '.svg', '.png']) if (!r.files.includes(id + ext)) rmSync(join(out, id + ext), { force: true });
    return r;
  } catch (e) {
    staged.abort();
    if (created) rmSync(out, { recursive: true, force: true }); // no empty report/ left by a failed report
    const code = errnoCode(e);
    if (code && !isProbeError(e)) throw new ProbeError(ErrorCode.io, msg.writeFailed(out, code, previous ? `the report there is as it was` : 'no report was left'), { cause: e });
    throw e;
  }
}

/** What a report shows, computed from digests without touching a file (probe watch serves it live). */
export interface ReportModel {
  readonly digests: readonly RunDigest[];
  readonly hypotheses: readonly HypothesisResult[];
  readonly prevalences: readonly Prevalence[];
  readonly interventions: readonly Interventions[];
  readonly diagnoses: ReadonlyMap<string, Diagnosis>;
  readonly attribution: readonly GroupAttribution[];
  readonly reproduction: Reproduction | null;
  readonly datasets: Datasets;
  readonly panels: readonly Panel[];
  readonly skipped: readonly string[];
  /** the page's input; `generated` is now */
  readonly page: PageInput;
}

/**
 * derive → panels → the page's input, for digests read from `inputs` (named on the page). Runs
 * in `pending` (paths of runs still training, for probe watch) are charted but left out of the
 * verdicts, prevalence, pairs and attribution until they finish.
 */
export function reportModel(digests: readonly RunDigest[], inputs: readonly string[], warn: (text: string) => void = () => {}, pending: ReadonlySet<string> = new Set(), reference: Reference | null = null): ReportModel {
  const counted = digests.filter((d) => !pending.has(d.path));
  // the study's groups name layers of its MLP: an attached model's layers are not those
  const study = counted.filter((d) => d.study);
  // `probe run` keeps a run with other settings beside the first under its own name: say when both are counted
  const bySeed = new Map<string, string[]>();
  for (const d of study) bySeed.set(`${d.variant}|${d.combo}|${d.seed}`, [...(bySeed.get(`${d.variant}|${d.combo}|${d.seed}`) ?? []), d.run]);
  for (const runs of bySeed.values()) if (runs.length > 1) warn(`${runs.join(', ')} are one combination and seed with other settings: the statistics count each as a run`);
  const hypotheses = testHypotheses(study);
  const prevalences = testPrevalences(study);
  const interventions = pairInterventions(study);
  const diagnoses = new Map(digests.map((d) => [d.path, diagnose(d)]));
  const attribution = attributionByGroup(counted);
  const reproduction = reference ? reproduce(reference, counted) : null;
  const datasets = buildDatasets(digests, hypotheses, diagnoses, pending);
  const probes = new Set(digests.flatMap((d) => d.probes));
  const { panels, skipped } = buildPanels(datasets, {
    probes,
    h1: datasets.runs.some((r) => r.h1 !== null),
    h2: datasets.runs.some((r) => r.h2 !== null),
    deaths: digests.some((d) => d.deaths.length > 0),
    study: digests.some((d) => d.study),
  });
  for (const s of skipped) warn(`skipped ${s}`);
  const asked = (d: RunDigest) => (d.probesConfigured === 'all' ? PROBE_IDS : d.probesConfigured);
  const lacking = digests.filter((d) => [ProbeId.deadRelu, ProbeId.saturation, ProbeId.gradients].some((p) => !asked(d).includes(p)));
  if (lacking.length) warn(`${lacking.length} trace(s) were recorded without some probes (e.g. ${lacking[0].run}: ${asked(lacking[0]).join(', ') || 'none'}); their charts and measures are missing`);
  // a run in flight is not truncated: its unfinished epoch is still to come
  const truncated = digests.filter((d) => d.truncated && !pending.has(d.path)).length, inFlight = digests.filter((d) => pending.has(d.path));
  const page: PageInput = {
    title: digests.length === 1 ? `probe report: ${digests[0].run}` : `probe report: ${digests.length} runs`,
    generated: new Date().toISOString(),
    version: probeVersion(),
    inputs: `${digests.length} trace${digests.length > 1 ? 's' : ''} (${new Set(digests.map((d) => d.combo)).size} combination(s), ${truncated} truncated${inFlight.length ? `, ${inFlight.length} in flight` : ''}) from ${inputs.join(', ')}`,
    datasets, panels, hypotheses, prevalences, interventions, attribution, reproduction,
    diagnoses: diagnosisLines(datasets, digests, diagnoses),
    notes: notes(datasets, digests),
    warnings: [
      ...skipped.map((s) => `skipped ${s}`),
      ...digests.filter((d) => d.truncated && !pending.has(d.path)).map((d) => `${d.run} is truncated: ${d.epochsDone} of ${d.epochsPlanned ?? '?'} epochs finished`),
      ...digests.filter((d) => d.stoppedBy).map((d) => `${d.run} was stopped by a rule (--stop-when): ${d.stoppedBy}; its last epoch (${d.epochsDone} of ${d.epochsPlanned ?? '?'}) was cut short and evaluated there`),
      ...inFlight.map((d) => `${d.run} is in flight: ${d.epochsDone} of ${d.epochsPlanned ?? '?'} epochs finished, charted but left out of the verdicts until it finishes`),
    ],
    singleRun: digests.length === 1 ? singleRunSummary(digests[0]) : null,
    health: digests.map((d) => d.health),
    study: digests.some((d) => d.study),
    studyShort: shortNotes(digests.filter((d) => d.study)),
  };
  return { digests, hypotheses, prevalences, interventions, diagnoses, attribution, reproduction, datasets, panels, skipped, page };
}

/** Reads, derives and writes every file of the report through `staged` (renamed into place by the caller). */
async function writeReport(inputs: readonly string[], paths: readonly string[], out: string, opts: ReportOptions, reference: Reference | null, staged: StagedWrites): Promise<ReportResult> {
  const warn = opts.onWarning ?? (() => {});
  const progress = opts.onProgress ?? (() => {});
  const digests: RunDigest[] = [];
  const by = opts.by?.length ? checkGroupKeys(opts.by) : null;
  // runs still training (a sweep beside the report): as probe watch does, charted but left out of
  // the verdicts, where their unfinished epoch would count as a failure
  const pending = new Set<string>();
  paths.forEach((p, i) => {
    progress(`reading ${i + 1}/${paths.length} ${basename(p)}`, { phase: 'read', done: i, total: paths.length });
    const t = readTrace(p);
    const live = t.status === RunStatus.running && lockHolder(p) !== null;
    if (t.progress?.stopped) warn(`${p} was stopped at step ${t.progress.stopped.step} by rule ${t.progress.stopped.text}: its last epoch was cut short and evaluated there`);
    if (t.progress?.diverged) warn(`${p} diverged at step ${t.progress.diverged.step} (${t.progress.diverged.reason}): using its ${t.progress.epochsDone} epoch(s) finished before`);
    if (live) {
      pending.add(p);
      warn(`${p} is in flight (a live process holds its lock): charted with its ${t.progress?.epochsDone ?? 0} finished epoch(s), left out of the verdicts`);
    } else if (t.truncated) warn(`${p} is truncated (${t.status}${t.recovered ? ', footer recovered' : ''}): using its ${t.progress?.epochsDone ?? 'finished'} complete epoch(s)`);
    const d = digestTrace(t, REPORT_NEEDS);
    // --by: each value of the settings is a variant of its own, as dataset and batch norm are
    digests.push(by ? { ...d, variant: [d.variant, ...Object.entries(groupValues(t, by)).map(([k, v]) => settingLabel(k, v))].join(' · ') } : d);
  });
  const { hypotheses, prevalences, interventions, diagnoses, attribution, reproduction, datasets, panels, skipped, page } = reportModel(digests, inputs, warn, pending, reference);
  const files: string[] = [];
  const write = (name: string, content: string | Uint8Array) => { staged.write(join(out, name), content); files.push(name); };
  for (const [k, p] of panels.entries()) {
    const spec = fileSpec(p, datasets);
    write(`${p.id}.vl.json`, JSON.stringify(spec, null, 1));
    if (!opts.noImages) {
      progress(`rendering ${k + 1}/${panels.length} ${p.id}`, { phase: 'render', done: k, total: panels.length });
      const svg = await toSvg(spec);
      write(`${p.id}.svg`, svg);
      write(`${p.id}.png`, toPng(svg));
    }
  }
  const truncated = digests.filter((d) => d.truncated && !pending.has(d.path)).length, inFlight = pending.size;
  progress('writing the page', { phase: 'write', done: 0, total: 1 });
  const html = pageHtml(page);
  write('index.html', html);
  const diagList = digests.map((d) => diagnoses.get(d.path) as Diagnosis);
  const health = digests.map((d) => d.health);
  write('verdicts.json', JSON.stringify({ generated: new Date().toISOString(), runs: digests.length, truncated, inFlight, health, prevalences, hypotheses, attribution, interventions, reproduction, diagnoses: diagList }, null, 2));
  const diverged = digests.filter((d) => d.status === 'diverged').length, stopped = digests.filter((d) => d.status === 'stopped').length;
  return { out, files, runs: digests.length, truncated, inFlight, diverged, stopped, hypotheses, prevalences, interventions, diagnoses: diagList, health, study: page.study, studyShort: page.studyShort, attribution, reproduction, panels: panels.map((p) => p.id), skipped, htmlBytes: Buffer.byteLength(html) };
}

/** Per value of the run selector: what is wrong with its runs, and for the study's runs its line about H1/H2. */
function diagnosisLines(d: Datasets, digests: readonly RunDigest[], diagnoses: ReadonlyMap<string, Diagnosis>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const x of digests) {
    const pick = d.runs.find((r) => r.run === x.run && r.variant === x.variant)?.pick as string;
    (out[pick] ??= []).push(x.health.headline, ...x.health.lines.map((l) => `  ${l}`));
    // the study's line for its runs, and for any run whose writer evaluated its measures (PyTorch)
    const line = diagnoses.get(x.path) as Diagnosis;
    if (x.study || line.errors !== null) out[pick].push(`  study: ${line.text}`);
  }
  return out;
}

/**
 * Per variant, a note when the study's verdicts come from runs shorter than its schedule
 * (STUDY_EPOCHS epochs of STUDY_TRAIN samples): the range of training samples of its runs.
 */
export function shortNotes(studyRuns: readonly RunDigest[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of new Set(studyRuns.map((d) => d.variant))) {
    const runs = studyRuns.filter((d) => d.variant === v);
    const short = runs.filter((d) => d.health.short !== null);
    if (short.length === 0) continue;
    const samples = short.map((d) => d.health.short!.samples), lo = Math.min(...samples), hi = Math.max(...samples);
    const range = lo === hi ? lo.toLocaleString('en-US') : `${lo.toLocaleString('en-US')}–${hi.toLocaleString('en-US')}`;
    out[v] = `${short.length} of ${runs.length} runs are shorter than the study's schedule: ${range} training samples, the study's is ${(STUDY_EPOCHS * STUDY_TRAIN).toLocaleString('en-US')} (${STUDY_EPOCHS} epochs of ${STUDY_TRAIN.toLocaleString('en-US')}); a failure that takes longer to show would be missed`;
  }
  return out;
}

function singleRunSummary(d: RunDigest): string {
  if (!d.study) return modelRunSummary(d);
  const L = d.acts.length;
  const h1 = d.diag[`${L}/${Diag.inactivePairs}`], h2 = d.diag[`${L - 1}/${Diag.satPairs}`];
  const parts = [`final test accuracy ${d.finalTestAcc === null ? '—' : `${(100 * d.finalTestAcc).toFixed(1)}%`}`];
  if (h1 !== undefined) parts.push(`${(100 * h1).toFixed(1)}% of (test input, output unit) pairs have z ≤ 0 at the output ReLU (H1 measure; 'most' would be > 50%)`);
  if (h2 !== undefined) parts.push(`${(100 * h2).toFixed(1)}% of layer ${L - 1}'s (input, unit) pairs at its extremes (H2 measure)`);
  return `${d.run}: ${parts.join('; ')}`;
}

/** An attached model: per probed layer, the figures that say whether it still learns. */
function modelRunSummary(d: RunDigest): string {
  const parts = [`final test accuracy ${d.finalTestAcc === null ? '—' : `${(100 * d.finalTestAcc).toFixed(1)}%`}`];
  d.acts.forEach((act, i) => {
    const dead = d.lastEpoch[`${i + 1}/${Metric.deadUnits}`], sat = d.lastEpoch[`${i + 1}/${Metric.satFrac}`], wrong = d.lastEpoch[`${i + 1}/${Metric.satWrongFrac}`];
    if (dead !== undefined) parts.push(`layer ${i + 1} (${act}): ${(100 * dead).toFixed(1)}% of units dead`);
    // the output layer: at the extremes is where the loss sends a trained classifier's outputs; the wrong side is the measure
    if (i === d.acts.length - 1 && sat !== undefined) parts.push(`layer ${i + 1} (${act}, output): ${wrong === undefined ? 'wrong-side saturation not recorded' : `${(100 * wrong).toFixed(1)}% of outputs saturated on the wrong side`} (${(100 * sat).toFixed(1)}% at the extremes either way, which for an output is information, not a fault)`);
    else if (sat !== undefined) parts.push(`layer ${i + 1} (${act}): ${(100 * sat).toFixed(1)}% of outputs saturated`);
  });
  return `${d.run} (attached model): ${parts.join('; ')}`;
}
