import { ProbeError, ErrorCode } from './errors.js';
import { msg } from './messages.js';

/** The activations the study combines, one per non-input layer. */
export const Activation = {
  relu: 'relu',
  tanh: 'tanh',
  sigmoid: 'sigmoid',
  selu: 'selu',
} as const;
export type Activation = (typeof Activation)[keyof typeof Activation];

export const ACTIVATIONS: readonly Activation[] = Object.values(Activation);

export function isActivation(s: string): s is Activation {
  return Object.prototype.hasOwnProperty.call(Activation, s);
}

/** SELU constants (Klambauer et al. 2017), the same as PyTorch's `nn.SELU`. */
export const SELU_ALPHA = 1.6732632423543772;
export const SELU_SCALE = 1.0507009873554805;

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
