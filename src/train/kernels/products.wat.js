// Generates the WebAssembly text of probe's kernel module (assembled by scripts/build-wasm.js,
// once with f32x4.relaxed_madd and once with f32x4.mul + f32x4.add for runtimes without relaxed
// SIMD). One module, instantiated once per wasm heap (wasm-module.ts), made of one file per concept:
//
//   wat/gemm.js         the register-blocked product routine, and the plain product (gemm)
//   wat/sgd.js          the weight gradient fused with SGD (gemm_sgd), the bias's (bias_sgd)
//   wat/activations.js  the products with the activation or its derivative in their epilogues
//   wat/sparse.js       the input layer over a sparse input (its forward and its update)
//   wat/attach-moments.js  the attach path's statistic (attach/moments.ts)
//   wat/stats.js        the probes' statistics (relu_counts, sat_*, sumsq_max)
//   wat/peak.js         the register-only loop the bench measures the wasm peak with

import { activationKernels } from './wat/activations.js';
import { gemm, gemmRoutine } from './wat/gemm.js';
import { moments } from './wat/attach-moments.js';
import { peak } from './wat/peak.js';
import { biasSgd, weightGradSgd } from './wat/sgd.js';
import { sparseKernels } from './wat/sparse.js';
import { probeStats } from './wat/stats.js';

/** @param {{ relaxed: boolean, mr?: number, nv?: number }} o */
export default function products(o) {
  const g = gemmRoutine(o);
  return ['(module', '(import "env" "memory" (memory 1))', gemm(g), weightGradSgd(g), weightGradSgd(g, false), activationKernels(g), sparseKernels(g), biasSgd(), moments(), probeStats(), peak(g), ')'].join('\n');
}
