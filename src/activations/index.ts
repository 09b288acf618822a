/**
 * The activations probe knows, one spec each (see spec.ts), and the combination grammar
 * (`relu-sigmoid-relu`: one activation per non-input layer, output last).
 *
 * To add an activation: write its spec file beside these, add it to {@link ACTIVATION_SPECS},
 * and give it a reference test; engine, probes and report take it from here. It does not join
 * the study's grid or its control groups (src/study.ts) unless it is listed there.
 */
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { relu } from './relu.js';
import { selu } from './selu.js';
import { sigmoid } from './sigmoid.js';
import type { ActivationSpec } from './spec.js';
import { tanh } from './tanh.js';

export { SELU_ALPHA, SELU_SCALE } from './selu.js';
export { canDie, canSaturate, isInactive, isSaturated, type ActivationSpec, type Cannot, type DeathRule, type SatThresholds, type SaturationRule, type Tf } from './spec.js';

/** Every activation, by name, in the order help texts and grids list them. */
export const ACTIVATION_SPECS = { relu, tanh, sigmoid, selu } as const;

export type Activation = keyof typeof ACTIVATION_SPECS;

/** `{relu: 'relu', …}`: the names as a const object, for `Activation.relu`. */
export const Activation = Object.freeze(Object.fromEntries(Object.keys(ACTIVATION_SPECS).map((k) => [k, k]))) as { readonly [K in Activation]: K };

export const ACTIVATIONS: readonly Activation[] = Object.keys(ACTIVATION_SPECS) as Activation[];

export function isActivation(s: string): s is Activation {
  return Object.prototype.hasOwnProperty.call(ACTIVATION_SPECS, s);
}

export function activationSpec(a: Activation): ActivationSpec<Activation> {
  return ACTIVATION_SPECS[a];
}

/**
 * The spec of an activation as a layer names it, or null when probe has none (an attached
 * model's softmax, softplus, …): probes then record nothing for that layer rather than guess.
 */
export function specOf(name: string): ActivationSpec | null {
  return isActivation(name) ? ACTIVATION_SPECS[name] : null;
}

/**
 * Parses a combination such as `relu-sigmoid-relu` into one activation per layer.
 * @param layers how many non-input layers the model has (hidden layers + output)
 */
export function parseCombo(combo: string, layers: number): Activation[] {
  const parts = combo.trim().toLowerCase().split('-');
  for (const p of parts) {
    if (!isActivation(p)) throw new ProbeError(ErrorCode.config, msg.unknownActivation(p, combo));
  }
  if (parts.length !== layers) {
    throw new ProbeError(ErrorCode.config, msg.comboLength(combo, parts.length, layers));
  }
  return parts as Activation[];
}

export function comboName(acts: readonly Activation[]): string {
  return acts.join('-');
}
