/**
 * Evaluation on a split, in chunks, with the diagnosis (study/diagnosis.ts) taken on the way:
 * test loss and accuracy, the hypotheses' measures per layer and the attribution of each error.
 */
import type { TrainedActivation } from '../activations/index.js';
import { DiagnosisAccumulator, type DiagnosisResult } from '../study/diagnosis.js';
import type { ProbeSettings } from '../probes/probe.js';
import { BatchBuilder, disposeBatch } from '../train/batch.js';
import type { Dataset, Split } from '../train/data.js';
import type { Mlp } from '../train/engine.js';

export interface Evaluation {
  readonly loss: number;
  readonly acc: number;
  readonly diagnosis: DiagnosisResult;
}

/**
 * One batch builder per split and lookup table, kept for the split's life: its lists of each
 * sample's nonzero pixels are made once (a scan of the test set, ~20 ms), not at each of a run's
 * 11 evaluations.
 */
const builders = new WeakMap<Split, { lut: Float32Array; lutOffset: Int32Array; classes: number; builder: BatchBuilder }>();
function builderFor(split: Split, lut: Float32Array, lutOffset: Int32Array, classes: number): BatchBuilder {
  const b = builders.get(split);
  if (b && b.lut === lut && b.lutOffset === lutOffset && b.classes === classes) return b.builder;
  const builder = new BatchBuilder(split, lut, lutOffset, classes);
  builders.set(split, { lut, lutOffset, classes, builder });
  return builder;
}

/**
 * @param gradRef the evaluation before training's `diagnosis.gradMeans`; null for that one
 */
export function evaluateDiagnosed(model: Mlp, data: Pick<Dataset, 'test' | 'lut' | 'lutOffset' | 'classes'>, settings: ProbeSettings, gradRef: readonly number[] | null, chunk = 1000): Evaluation {
  const split = data.test;
  const identity = Uint32Array.from({ length: split.n }, (_, i) => i);
  const builder = builderFor(split, data.lut, data.lutOffset, data.classes);
  const widths = model.arch.sizes.slice(1);
  const acc = new DiagnosisAccumulator(model.acts as readonly TrainedActivation[], widths, settings);
  let lossSum = 0, correct = 0;
  for (let start = 0; start < split.n; start += chunk) {
    const size = Math.min(chunk, split.n - start);
    // the model's input form; nonzeros by sample only (no weight gradient here)
    const batch = builder.build(identity, start, size, model.inputForm, false);
    // the accumulator reads the chunk's tensors in place and keeps only counts and sums
    model.withEvaluateDetail(batch, (r) => {
      lossSum += r.lossSum;
      correct += r.correct;
      acc.add({ n: size, labels: split.labels.subarray(start, start + size), layers: r.layers });
    });
    disposeBatch(batch);
  }
  return { loss: lossSum / split.n, acc: correct / split.n, diagnosis: acc.finish(gradRef) };
}
