/**
 * The built-in probes' ids (a trace's `probe` column), declared once and cheap to import: config
 * validation, `--help` and readers need them without loading the probes (and with them tfjs).
 * The registry (registry.ts) lists the probes in this order; a test checks the two agree.
 */
import { UNIT_ACTIVITY_PROBE } from '../trace/metrics.js';

export const ProbeId = {
  loss: 'loss',
  saturation: 'saturation',
  deadRelu: 'dead-relu',
  gradients: 'gradients',
  unitActivity: UNIT_ACTIVITY_PROBE,
  distribution: 'distribution',
} as const;
export type ProbeId = (typeof ProbeId)[keyof typeof ProbeId];

export const PROBE_IDS: readonly ProbeId[] = Object.values(ProbeId);

export function isProbeId(s: string): s is ProbeId {
  return (PROBE_IDS as readonly string[]).includes(s);
}
