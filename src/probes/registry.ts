import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { PROBE_IDS } from './ids.js';
import { deadRelu } from './dead-relu.js';
import { distribution } from './distribution.js';
import { gradients } from './gradients.js';
import { loss } from './loss.js';
import type { Probe } from './probe.js';
import { saturation } from './saturation.js';
import { unitActivity } from './unit-activity.js';

/** Every built-in probe, in the order of `ProbeId` (ids.ts; a test checks). */
export const PROBES: readonly Probe[] = [loss, saturation, deadRelu, gradients, unitActivity, distribution];

export { PROBE_IDS } from './ids.js';

/** The probes of `ids` (or all), each once and in the registry's order, whatever order or repeats were given. */
export function resolveProbes(ids: readonly string[] | 'all'): Probe[] {
  if (ids === 'all') return [...PROBES];
  for (const id of ids) if (!PROBES.some((q) => q.id === id)) throw new ProbeError(ErrorCode.config, msg.unknownProbe(id, PROBE_IDS));
  return PROBES.filter((p) => ids.includes(p.id));
}
