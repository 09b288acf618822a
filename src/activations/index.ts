/**
 * The activations probe knows, one spec each (see spec.ts), and the combination grammar
 * (`relu-sigmoid-relu`: one activation per non-input layer, output last).
 *
 * Two sets, one spec per name:
 * - {@link ENGINE_SPECS}: what probe's own MLP engine trains and combinations name (its fused
 *   wasm epilogues and tfjs-node kernels are written for these four);
 * - {@link ACTIVATION_SPECS}: every activation the probes understand, including those only
 *   attached models use (relu6, leaky ReLU, ELU, hard sigmoid, softsign, swish, GELU, linear).
 *
 * To add an activation: write its spec file beside these, add it to {@link ACTIVATION_SPECS}
 * (and to {@link TFJS_NAMES} if tfjs spells it differently), and give it a reference test
 * (test/activations.test.ts); the probes and attached models take it from here. It joins the
 * engine's grammar only if the engine's kernels implement it, and the study's groups only if
 * study.ts lists it.
 */
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { elu } from './elu.js';
import { gelu } from './gelu.js';
import { hardsigmoid } from './hardsigmoid.js';
import { leakyrelu } from './leakyrelu.js';
import { linear } from './linear.js';
import { relu } from './relu.js';
import { cappedRelu, relu6 } from './relu6.js';
import { selu } from './selu.js';
import { sigmoid } from './sigmoid.js';
import { softsign } from './softsign.js';
import type { ActivationSpec } from './spec.js';
import { swish } from './swish.js';
import { tanh } from './tanh.js';

export { SELU_ALPHA, SELU_SCALE } from './selu.js';
export { canDie, canSaturate, isInactive, isSaturated, type ActivationSpec, type Cannot, type DeathRule, type SatThresholds, type SaturationRule, type Tf } from './spec.js';

/** The engine's activations, by name, in the order help texts and grids list them. */
export const ENGINE_SPECS = { relu, tanh, sigmoid, selu } as const;

/** Every activation the probes understand, the engine's first. */
export const ACTIVATION_SPECS: Readonly<Record<string, ActivationSpec>> = { ...ENGINE_SPECS, relu6, leakyrelu, elu, hardsigmoid, softsign, swish, gelu, linear };

/** tfjs-layers' names of these activations (what an attached model's layers report), where they differ. */
export const TFJS_NAMES: Readonly<Record<string, string>> = { leakyReLU: 'leakyrelu', hardSigmoid: 'hardsigmoid' };

/** An activation the engine trains. */
export type Activation = keyof typeof ENGINE_SPECS;

/** `{relu: 'relu', …}`: the names as a const object, for `Activation.relu`. */
export const Activation = Object.freeze(Object.fromEntries(Object.keys(ENGINE_SPECS).map((k) => [k, k]))) as { readonly [K in Activation]: K };

export const ACTIVATIONS: readonly Activation[] = Object.keys(ENGINE_SPECS) as Activation[];

export function isActivation(s: string): s is Activation {
  return Object.prototype.hasOwnProperty.call(ENGINE_SPECS, s);
}

/**
 * What probe's engine can put on a layer: a combination's four, and the two an intervention puts
 * on the output layer (`--intervention out-linear|out-leaky`: no output activation, PyTorch's leaky
 * ReLU). Those two run as tfjs ops (no fused kernel) and are not part of the combination grammar.
 */
export const TRAINED_SPECS = { ...ENGINE_SPECS, linear, leakyrelu } as const;
export type TrainedActivation = keyof typeof TRAINED_SPECS;

export function activationSpec(a: TrainedActivation): ActivationSpec {
  return TRAINED_SPECS[a];
}

/**
 * Activations whose attached layers carry a parameter that changes the figures: tfjs's config key,
 * the value the plain spec has, and the spec for another value (null where probe has no rule for
 * it). Only ReLU's cap so far: tfjs's ELU layer refuses an alpha other than 1, and LeakyReLU's
 * slope changes no figure (it can neither saturate nor die).
 */
const FAMILIES: Readonly<Record<string, { readonly key: string; readonly plain: number | null; readonly make: (v: number) => ActivationSpec | null }>> = {
  relu: { key: 'maxValue', plain: null, make: (v) => (v === 6 ? relu6 : v > 0 ? cappedRelu(v) : null) },
};

const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const canonical = (name: string) => (has(TFJS_NAMES, name) ? TFJS_NAMES[name] : name);

/**
 * The name probes know a layer's activation by, with its parameter when it is not the plain
 * spec's: `relu` with maxValue 3 → `relu(maxValue=3)`.
 */
export function activationName(name: string, param: number | null): string {
  const fam = FAMILIES[canonical(name)];
  if (param === null || !fam || param === fam.plain) return name;
  return `${canonical(name)}(${fam.key}=${param})`;
}

/** {@link activationName} of a layer as a plan or a trace describes it (`activation`, `activationParam`). */
export function layerActivation(l: { readonly activation: string; readonly activationParam?: number | null }): string {
  return activationName(l.activation, l.activationParam ?? null);
}

const made = new Map<string, ActivationSpec | null>();

/**
 * The spec of an activation as a layer names it (probe's or tfjs's spelling, with a parameter as
 * {@link activationName} writes it), or null when probe has none (an attached model's softmax,
 * softplus, …): probes then record nothing for that layer rather than guess.
 */
export function specOf(name: string): ActivationSpec | null {
  const key = canonical(name);
  if (has(ACTIVATION_SPECS, key)) return ACTIVATION_SPECS[key];
  const m = /^(\w+)\((\w+)=([^)]+)\)$/.exec(name);
  if (!m || !has(FAMILIES, m[1]) || FAMILIES[m[1]].key !== m[2] || !Number.isFinite(Number(m[3]))) return null;
  if (!made.has(name)) made.set(name, FAMILIES[m[1]].make(Number(m[3])));
  return made.get(name)!;
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
