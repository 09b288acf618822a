/**
 * Terminal output: a progress line that redraws itself on a TTY and degrades to plain log lines
 * elsewhere (CI logs, pipes), and warnings that are printed once and counted.
 */
import chalk, { chalkStderr } from 'chalk';
import { Metric } from '../trace/metrics.js';

export interface Out {
  /** human-facing stream: progress and logs */
  readonly err: NodeJS.WriteStream;
  readonly quiet: boolean;
}

export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export const pct = (v: number | null | undefined, digits = 1): string => (v == null ? '—' : `${(100 * v).toFixed(digits)}%`);
export const num = (v: number | null | undefined, digits = 4): string => (v == null ? '—' : Math.abs(v) !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(2) : v.toFixed(digits));

/** A single progress line: redrawn in place on a TTY (10 Hz at most), a plain line every 10% elsewhere. */
export class ProgressLine {
  private lastDraw = 0;
  private lastBucket = -1;
  private drawn = false;
  constructor(private readonly out: Out) {}

  update(label: string, done: number, total: number, extra: string, rate: number): void {
    if (this.out.quiet) return;
    const now = performance.now();
    const eta = rate > 0 ? (total - done) / rate : NaN;
    if (this.out.err.isTTY) {
      if (now - this.lastDraw < 100 && done < total) return;
      this.lastDraw = now;
      const width = 24, filled = Math.round((width * done) / total);
      const bar = chalkStderr.cyan('█'.repeat(filled)) + chalkStderr.dim('░'.repeat(width - filled));
      const line = `${label} ${bar} ${done}/${total} ${extra} ${chalkStderr.dim(`${rate.toFixed(0)} steps/s · ETA ${fmtDuration(eta)}`)}`;
      this.out.err.write(`\r\x1b[2K${line}`);
      this.drawn = true;
    } else {
      const bucket = Math.floor((10 * done) / total);
      if (bucket === this.lastBucket || bucket === 0) return;
      this.lastBucket = bucket;
      this.out.err.write(`${label} ${done}/${total} ${extra} ${rate.toFixed(0)} steps/s ETA ${fmtDuration(eta)}\n`);
    }
  }

  /** A one-line status on a TTY (nothing elsewhere: logs stay quiet); for work without a count. */
  status(text: string): void {
    if (this.out.quiet || !this.out.err.isTTY) return;
    this.out.err.write(`\r\x1b[2K${chalkStderr.dim(text)}`);
    this.drawn = true;
  }

  /** Clears the redrawn line so the next log line starts clean. */
  clear(): void {
    if (this.drawn && this.out.err.isTTY) this.out.err.write('\r\x1b[2K');
    this.drawn = false;
    this.lastBucket = -1;
  }
}

/** Warnings printed once each, with a count of repeats at the end (as Observable Plot does). */
export class Warnings {
  private readonly seen = new Map<string, number>();
  constructor(private readonly out: Out) {}
  warn(text: string): void {
    const n = this.seen.get(text) ?? 0;
    this.seen.set(text, n + 1);
    if (n === 0) this.out.err.write(`${chalkStderr.yellow('warning')} ${text}\n`);
  }
  flush(): void {
    for (const [text, n] of this.seen) if (n > 1) this.out.err.write(`${chalkStderr.yellow('warning')} ${text} ${chalkStderr.dim(`(×${n})`)}\n`);
    this.seen.clear();
  }
}

/** Left-aligned text table with a dim header; cells may already carry colour. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: readonly string[]) => cells.map((c, i) => c + ' '.repeat(widths[i] - visible(c))).join('  ').trimEnd();
  return [chalk.dim(line(header)), ...rows.map(line)].join('\n');
}

/** A probed value as the run summaries carry it (RunResult.last, ModelRunResult.last). */
interface Figure { readonly layer: number; readonly metric: string; readonly value: number }

/**
 * The last probed step, one row per layer: the caller's columns naming the layer, then the same
 * figures for probe's MLP and an attached model (red where most samples are dead or most outputs
 * saturated). Metric names from trace/metrics.ts: a renamed metric cannot leave a column blank.
 */
export function layerFiguresTable(last: readonly Figure[], layers: readonly { readonly layer: number; readonly cells: readonly string[] }[], head: readonly string[]): string {
  const get = (layer: number, metric: string) => last.find((f) => f.layer === layer && f.metric === metric)?.value;
  const red = (s: string, bad: boolean) => (bad ? chalk.red(s) : s);
  const rows = layers.map(({ layer: l, cells }) => {
    const dead = get(l, Metric.inactiveFrac) !== undefined ? `${pct(get(l, Metric.inactiveFrac))} / ${pct(get(l, Metric.deadUnits))} / ${pct(get(l, Metric.deadRows))}` : '—';
    // the output layer: at the extremes either way is information; the wrong side is what is red
    const wrong = get(l, Metric.satWrongFrac);
    const sat = get(l, Metric.satFrac) !== undefined ? `${pct(get(l, Metric.satFrac))} · ${num(get(l, Metric.meanDeriv), 3)}${wrong !== undefined ? ` (wrong side ${pct(wrong)})` : ''}` : '—';
    return [
      ...cells,
      red(dead, (get(l, Metric.deadRows) ?? 0) > 0.5),
      red(sat, (wrong ?? get(l, Metric.satFrac) ?? 0) > 0.5),
      num(get(l, Metric.wGradNorm)), num(get(l, Metric.zGradNorm)), num(get(l, Metric.updateRatio)),
    ];
  });
  return table([...head, 'z≤0 entries / dead units / dead samples', "saturated · mean act'", '‖dL/dW‖', '‖dL/dz‖', '‖ΔW‖/‖W‖'], rows);
}

/** A rule that fired, as a run says it when it fires: `stopping step 200: dead-output: …`. */
export function ruleFired(e: { readonly action: string; readonly step: number; readonly text: string }): string {
  return `${e.action === 'stop' ? chalkStderr.red('stopping') : chalkStderr.yellow('warning')} step ${e.step}: ${e.text}`;
}

/** `probe run`'s exit code for a run a rule stopped (--stop-when): it finished, but not as asked. */
export const EXIT_STOPPED = 4;

/** How a run ended, as its summary's first line says it: ✔ complete, ✘ diverged (where, why), ■ stopped by a rule (which, where) or anything else. */
export function endedAs(status: string, diverged: { readonly step: number; readonly reason: string } | null, stopped: { readonly step: number; readonly text: string } | null = null): { readonly mark: string; readonly text: string } {
  if (diverged) return { mark: chalk.red('✘'), text: chalk.red(`diverged at step ${diverged.step} (${diverged.reason})`) };
  if (stopped) return { mark: chalk.red('■'), text: chalk.red(`stopped at step ${stopped.step} by rule ${stopped.text}`) };
  return { mark: status === 'complete' ? chalk.green('✔') : chalk.yellow('■'), text: status };
}

/** What {@link diagnosisLines} prints: the generic diagnosis (read/diagnose.ts), as any reader has it. */
export interface DiagnosisLike {
  readonly headline: string;
  readonly lines: readonly string[];
  readonly verdict: { readonly failing: boolean | null };
  readonly findings: readonly { readonly text: string }[];
}

/**
 * The diagnosis as terminal lines: a bold "diagnosis" heading with the run and its verdict (red
 * when failing), then its findings (yellow) and notes, indented.
 */
export function diagnosisLines(d: DiagnosisLike, indent = '  '): string[] {
  const head = d.verdict.failing === true ? chalk.red(d.headline) : d.verdict.failing === false ? chalk.green(d.headline) : d.headline;
  const findings = new Set(d.findings.map((f) => f.text));
  return [`${chalk.bold('diagnosis')} ${head}`, ...d.lines.map((l) => indent + (findings.has(l) ? chalk.yellow(l) : chalk.dim(l)))];
}
