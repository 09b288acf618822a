/**
 * What probe knows about one activation function, in one place: its values (in float64 for the
 * tests' references, as tf ops for the engine), its derivative, and what "saturated" and "dead"
 * mean for it — or, as data, that it cannot saturate or die. The engine's forward and backward
 * pass, the saturation and dead-unit probes, the report's groups and the tests' references all
 * read these specs; adding an activation is one spec file, one line in the registry (index.ts)
 * and its reference test.
 */
import type tfjs from '../tf.cjs';

/** tfjs, passed in by the caller, so that reading a spec never loads tfjs. */
export type Tf = typeof tfjs;

/** The run's saturation thresholds (the study's stricter and looser variants have the same shape; the probes' settings hold them). */
export interface SatThresholds {
  /** sigmoid outputs below this count as saturated low */
  readonly sigmoidLow: number;
  /** sigmoid outputs above this count as saturated high */
  readonly sigmoidHigh: number;
  /** tanh outputs with |a| above this count as saturated */
  readonly tanhSat: number;
  /** selu outputs below −seluSat·λα (that share of the negative asymptote) count as saturated */
  readonly seluSat: number;
}

/** Where a unit's output counts as saturated: the gradient through it nearly vanishes. */
export interface SaturationRule {
  /** outputs a below this count as saturated low */
  readonly low: (s: SatThresholds) => number;
  /** outputs a above this count as saturated high; null when it is unbounded above */
  readonly high: ((s: SatThresholds) => number) | null;
  /** the flag that sets it, for messages and docs */
  readonly setting: string;
}

/** Where a unit is inactive: z ≤ zAtMost gives an exactly zero derivative. */
export interface DeathRule {
  readonly zAtMost: number;
}

/** A failure mode the activation does not have, and why. */
export interface Cannot {
  readonly cannot: string;
}

export interface ActivationSpec<N extends string = string> {
  readonly name: N;
  /** one line for help and docs */
  readonly formula: string;
  /** points where f is not differentiable (finite differences skip them) */
  readonly kinks?: readonly number[];
  /** a = f(z), in float64 (the tests' reference) */
  f(z: number): number;
  /** da/dz, written in terms of z or of a = f(z), whichever is cheaper; the same formula as {@link derivative} */
  df(z: number, a: number): number;
  /**
   * mean of {@link df} over a layer's entries, on host memory (the saturation probe's fast path).
   * Each activation writes its own loop: one shared loop calling `df` would see several functions
   * at one call site, which V8 does not inline (measured 6-8× slower).
   */
  meanDf(z: ArrayLike<number>, a: ArrayLike<number>): number;
  /** a = f(z) on the device */
  forward(tf: Tf, z: tfjs.Tensor2D): tfjs.Tensor2D;
  /** da/dz elementwise on the device */
  derivative(tf: Tf, z: tfjs.Tensor2D, a: tfjs.Tensor2D): tfjs.Tensor2D;
  readonly saturation: SaturationRule | Cannot;
  readonly death: DeathRule | Cannot;
}

export function canSaturate(s: ActivationSpec): s is ActivationSpec & { readonly saturation: SaturationRule } {
  return !('cannot' in s.saturation);
}

export function canDie(s: ActivationSpec): s is ActivationSpec & { readonly death: DeathRule } {
  return !('cannot' in s.death);
}

/** Whether output a (pre-activation z) sits where the activation saturates; false if it cannot. */
export function isSaturated(s: ActivationSpec, a: number, t: SatThresholds): boolean {
  if (!canSaturate(s)) return false;
  return a < s.saturation.low(t) || (s.saturation.high !== null && a > s.saturation.high(t));
}

/** Whether pre-activation z is where the activation's derivative is exactly 0; false if it cannot die (and for NaN). */
export function isInactive(s: ActivationSpec, z: number): boolean {
  return canDie(s) && z <= s.death.zAtMost;
}

/** Checks the name's type against the registry key (a typo fails to compile). */
export function defineActivation<N extends string>(spec: ActivationSpec<N>): ActivationSpec<N> {
  return spec;
}
