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

/** Every built-in probe; adding one is a file and a line here. */
export const PROBES: readonly Probe[] = [loss, saturation, deadRelu, gradients, unitActivity, distribution];

export { PROBE_IDS } from './ids.js';

export function resolveProbes(ids: readonly string[] | 'all'): Probe[] {
  if (ids === 'all') return [...PROBES];
  return ids.map((id) => {
    const p = PROBES.find((q) => q.id === id);
    if (!p) throw new ProbeError(ErrorCode.config, msg.unknownProbe(id, PROBE_IDS));
    return p;
  });
}
