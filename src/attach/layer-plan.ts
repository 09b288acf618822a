/**
 * Which layers of a `tf.LayersModel` the probes can see, and how.
 *
 * - `weighted`: a layer that computes z = f(input; W, b) and then applies its `activation`
 *   (Dense, Conv1D/2D/3D, Conv2DTranspose, SeparableConv, DepthwiseConv2D). The forward hook runs
 *   the layer with a linear activation and applies the activation itself, so it sees z and a.
 * - `activation`: a layer that only applies an activation (Activation, ReLU, LeakyReLU, ELU,
 *   Softmax): z is its input, a its output.
 *
 * Units are the last axis (Dense units, a convolution's channels: a channel is a unit). Anything
 * else is listed as not probed, with the reason, never an error.
 */
import type tf from '../tf-layers.cjs';

export const LayerRole = { weighted: 'weighted', activation: 'activation' } as const;
export type LayerRole = (typeof LayerRole)[keyof typeof LayerRole];

/** What tfjs-layers keeps on a layer with an activation (private in its typings). */
export interface ActivationFn {
  apply(x: tf.Tensor, ...rest: unknown[]): tf.Tensor;
  getClassName(): string;
}

export interface PlannedLayer {
  /** 1-based among probed layers, in the model's layer order; the trace's `layer` column */
  readonly layer: number;
  readonly name: string;
  readonly className: string;
  readonly role: LayerRole;
  /** the activation as tfjs names it (`relu`, `sigmoid`, `leakyReLU`, …) */
  readonly activation: string;
  /** parameter of the activation, when it has one (LeakyReLU's and ELU's alpha, ReLU's max value) */
  readonly activationParam: number | null;
  /** size of the last axis: units of a Dense layer, channels of a convolution */
  readonly units: number;
  /** what a unit is for this layer */
  readonly unitKind: 'unit' | 'channel';
  /** inputs per unit: kernel size without its output axis; the unit count for activation layers */
  readonly fanIn: number;
  /** output shape without the batch axis */
  readonly outputShape: readonly number[];
  readonly isOutput: boolean;
  /** names of its trainable variables: weights (every kernel) and bias */
  readonly weights: readonly string[];
  readonly bias: string | null;
  readonly tfLayer: tf.layers.Layer;
}

export interface UnprobedLayer {
  readonly name: string;
  readonly className: string;
  readonly reason: string;
}

export interface LayerPlan {
  readonly layers: readonly PlannedLayer[];
  readonly unprobed: readonly UnprobedLayer[];
}

/** layer numbers are stored as Int8 in the trace */
const MAX_LAYERS = 127;
const WEIGHTED = new Set(['Dense', 'Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose', 'SeparableConv1D', 'SeparableConv2D', 'DepthwiseConv2D']);
/** activation-only layers, and the activation each applies */
const ACTIVATION_LAYERS: Readonly<Record<string, (l: Record<string, unknown>) => { name: string; param: number | null }>> = {
  Activation: (l) => ({ name: (l.activation as ActivationFn).getClassName(), param: null }),
  ReLU: (l) => (l.maxValue == null ? { name: 'relu', param: null } : l.maxValue === 6 ? { name: 'relu6', param: null } : { name: 'relu', param: Number(l.maxValue) }),
  LeakyReLU: (l) => ({ name: 'leakyReLU', param: Number(l.alpha) }),
  ELU: (l) => ({ name: 'elu', param: Number(l.alpha) }),
  Softmax: () => ({ name: 'softmax', param: null }),
};

function shapeOf(layer: tf.layers.Layer): number[] | null {
  let s: unknown;
  try {
    s = layer.outputShape;
  } catch {
    return null;
  }
  if (!Array.isArray(s) || s.length < 2 || Array.isArray(s[0])) return null;
  const rest = (s as (number | null)[]).slice(1);
  return rest.every((d) => typeof d === 'number') ? (rest as number[]) : null;
}

function whyNot(layer: tf.layers.Layer): string {
  const cls = layer.getClassName();
  if ('layers' in layer) return 'a nested model: attach the probes to it separately';
  if (cls === 'InputLayer') return 'input';
  if ((layer as unknown as { trainableWeights: unknown[] }).trainableWeights.length > 0) return `${cls} is not a layer kind the probes know (they know Dense, convolutions and activation layers)`;
  return 'no activation: it only moves, pools or normalizes values';
}

/** Classifies every layer; `outputNames` are the names of the layers that produce model outputs. */
export function planLayers(model: tf.LayersModel): LayerPlan {
  const outputNames = new Set(model.outputs.map((t) => t.sourceLayer.name));
  const layers: PlannedLayer[] = [];
  const unprobed: UnprobedLayer[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const raw = layer as unknown as Record<string, unknown>;
    const shape = shapeOf(layer);
    const base = { name: layer.name, className: cls };
    if (cls === 'InputLayer') continue;
    if (!WEIGHTED.has(cls) && !(cls in ACTIVATION_LAYERS)) {
      unprobed.push({ ...base, reason: whyNot(layer) });
      continue;
    }
    if (raw.dataFormat === 'channelsFirst') {
      unprobed.push({ ...base, reason: 'channelsFirst data format: the probes read channels on the last axis' });
      continue;
    }
    if (layers.length === MAX_LAYERS) {
      unprobed.push({ ...base, reason: `only the first ${MAX_LAYERS} layers with activations are probed (the trace's layer column is 8-bit)` });
      continue;
    }
    if (!shape) {
      unprobed.push({ ...base, reason: 'output shape unknown (several outputs, or not built)' });
      continue;
    }
    const units = shape[shape.length - 1];
    const vars = layer.trainableWeights.map((w) => ({ name: (w.read() as tf.Variable).name, short: w.originalName.split('/').pop() ?? '' }));
    const bias = vars.find((v) => v.short === 'bias')?.name ?? null;
    const weights = vars.filter((v) => v.name !== bias).map((v) => v.name);
    let activation: { name: string; param: number | null };
    let fanIn: number;
    if (WEIGHTED.has(cls)) {
      const fn = raw.activation as ActivationFn | undefined;
      activation = { name: fn ? fn.getClassName() : 'linear', param: null };
      const kernel = layer.trainableWeights.find((w) => w.originalName.endsWith('kernel'));
      const ks = (kernel?.shape ?? [units]).map((d) => d ?? 1);
      // Dense [in, out]; Conv [..spatial, in, out]; Conv2DTranspose [h, w, out, in]; Depthwise [h, w, in, mult]
      fanIn = cls === 'Conv2DTranspose' ? ks.reduce((a, b) => a * b, 1) / ks[2] : ks.slice(0, -1).reduce((a, b) => a * b, 1);
    } else {
      activation = ACTIVATION_LAYERS[cls](raw);
      fanIn = units;
    }
    layers.push({
      ...base,
      layer: layers.length + 1,
      role: WEIGHTED.has(cls) ? LayerRole.weighted : LayerRole.activation,
      activation: activation.name,
      activationParam: activation.param,
      units,
      unitKind: shape.length > 1 ? 'channel' : 'unit',
      fanIn,
      outputShape: shape,
      isOutput: outputNames.has(layer.name),
      weights,
      bias,
      tfLayer: layer,
    });
  }
  return { layers, unprobed };
}
