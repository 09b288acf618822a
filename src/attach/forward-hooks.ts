/**
 * Forward hooks on tfjs layers, by wrapping each probed layer's `call` on the instance.
 *
 * Why `call` and not `apply`: both `model.fit` (executor) and `model.apply`/`predict` (the
 * container's graph walk) end in `layer.call`, and `call` receives concrete tensors. A Dense or
 * convolution layer fuses its activation into the kernel (`matMul`/`conv2d` with `relu`), so z
 * never exists as a tensor; while capturing, the wrapper runs the layer with a linear activation
 * and applies the layer's own activation object itself — the same function, unfused. Outside a
 * captured step (evaluation, prediction, unprobed steps) the original `call` runs untouched.
 * The layer's `activation` is swapped only for the duration of the call, so saving the model
 * while attached saves the real activation.
 */
import tf from '../tf.cjs';
import { gradientTap } from './grad-hook.js';
import { LayerRole, type ActivationFn, type PlannedLayer } from './layer-plan.js';

export interface ForwardCapture {
  readonly z: tf.Tensor;
  readonly a: tf.Tensor;
}

export interface ForwardSink {
  /** true while a probed step's forward pass runs */
  readonly capturing: boolean;
  forward(layer: number, t: ForwardCapture): void;
  backward(layer: number, dz: tf.Tensor): void;
  /** the model's output layer: dL/da of its output, from the caller's loss */
  outputGrad(layer: number, da: tf.Tensor): void;
}

const LINEAR: ActivationFn & { getConfig(): object } = {
  apply: (x) => x,
  getClassName: () => 'linear',
  getConfig: () => ({}),
};

type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

function one(t: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(t) ? t[0] : t;
}

/**
 * z of a Dense layer on a rank-2 input as matMul + bias, the same arithmetic as the layer's own
 * `K.dot`; null for anything else (the layer's own call then computes it). tfjs-layers' `K.dot`
 * runs a fused matMul for a linear activation, whose gradient computes dL/d(input) eagerly — for
 * the first layer that is a 32×500·500×784 product nobody uses, on wasm a slow transposed one;
 * tf.matMul computes each input's gradient only when it is needed.
 */
function denseZ(p: PlannedLayer, layer: unknown, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | null {
  const x = one(inputs);
  const d = layer as { kernel?: { read(): tf.Tensor }; bias?: { read(): tf.Tensor } | null; useBias?: boolean };
  if (p.className !== 'Dense' || x.rank !== 2 || !d.kernel) return null;
  const z = tf.matMul(x as tf.Tensor2D, d.kernel.read() as tf.Tensor2D);
  return d.bias ? tf.add(z, d.bias.read()) : z;
}

/** Wraps the layer's `call`; returns the function that restores it. */
export function hookLayer(p: PlannedLayer, sink: ForwardSink): () => void {
  const layer = p.tfLayer as unknown as { call: Call; activation?: ActivationFn };
  const original = layer.call;
  const tap = gradientTap((dy) => sink.backward(p.layer, tf.keep(tf.clone(dy))));
  // the output's own gradient, dL/da, whose sign says on which side a saturated output sits
  const tapOut = p.isOutput ? gradientTap((dy) => sink.outputGrad(p.layer, tf.keep(tf.clone(dy)))) : (a: tf.Tensor) => a;
  const wrapped: Call = function (this: unknown, inputs, kwargs) {
    if (!sink.capturing) return original.call(layer, inputs, kwargs);
    let z: tf.Tensor, a: tf.Tensor;
    if (p.role === LayerRole.weighted) {
      const act = layer.activation ?? LINEAR;
      layer.activation = LINEAR;
      try {
        z = denseZ(p, layer, inputs) ?? one(original.call(layer, inputs, kwargs));
      } finally {
        layer.activation = act;
      }
      a = tapOut(act.apply(tap(z)));
    } else {
      z = one(inputs);
      a = tapOut(one(original.call(layer, tap(z), kwargs)));
    }
    // copies (sharing memory) kept past the gradient scope; the session disposes them after the step.
    // Copies, because z may be the caller's own input tensor.
    sink.forward(p.layer, { z: tf.keep(tf.clone(z)), a: tf.keep(tf.clone(a)) });
    return a;
  };
  layer.call = wrapped;
  return () => {
    layer.call = original;
  };
}
