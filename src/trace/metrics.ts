/**
 * Names of what traces record that readers (report, compare, export) need without loading the
 * probes, and with them tfjs: declared once here, imported by the probes that write them and by
 * the readers. Probe ids are in probes/ids.ts; the study's own rows (diagnosis, unit activity)
 * in study.ts.
 */

/** Quantile levels of the distribution probe, in percent: the bands TensorBoard's distributions draw, plus the median. */
export const QUANTILES = [1, 5, 25, 50, 75, 95, 99] as const;

/** Metric name of quantile `p` (percent) of `of` (z or a): `z_p50`, `a_p99`. */
export const quantileMetric = (of: 'z' | 'a', p: number): string => `${of}_p${p}`;
