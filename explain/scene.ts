// What the pictures draw when they are given no annotation and no weights: an example scene
// (three objects, one of them thin) and predictions made up from it in the shape a half-trained
// SSD would give, so that every picture can be tried at once on a plain background.
//
// The made-up predictions go through the real code paths (matching, loss pieces, decoding, NMS)
// like a network's would; only where they come from is invented, and the pictures say so.

import { Tensor } from '../tensor/tensor';
import { Rng } from '../tensor/random';
import { matchPriors } from '../ssd/matching';

/** An object of the picture: its box in xy fractions of the image, and its class. */
export interface SceneObject {
  boxXy: [number, number, number, number];
  label: number;
}

/** VOC class indices: 12 dog, 15 person, 5 bottle. The bottle is thin, so only a forced match gives it a prior. */
export const EXAMPLE_OBJECTS: readonly SceneObject[] = [
  { boxXy: [0.08, 0.42, 0.5, 0.9], label: 12 },
  { boxXy: [0.55, 0.12, 0.86, 0.93], label: 15 },
  { boxXy: [0.41, 0.16, 0.46, 0.46], label: 5 },
];

/**
 * The example scene for a model of `nClasses` classes: VOC's dog, person and bottle for 21 classes
 * (or more); for fewer, classes 1, 2, ... in turn, so that every label is one the model has.
 */
export function exampleObjects(nClasses = 21): SceneObject[] {
  if (nClasses < 2) throw new Error(`exampleObjects: a model needs at least 2 classes (background and one), got ${nClasses}`);
  return EXAMPLE_OBJECTS.map((o, k) => ({ boxXy: [...o.boxXy], label: nClasses >= 21 ? o.label : 1 + (k % (nClasses - 1)) }));
}

/** The objects as the tensors matchPriors takes: boxes (n_objects, 4) xy and labels (n_objects). */
export function objectTensors(objects: readonly SceneObject[]): { boxesXy: Tensor; labels: number[] } {
  const boxesXy = new Tensor([objects.length, 4]); // (n_objects, 4)
  objects.forEach((o, k) => boxesXy.data.set(o.boxXy, 4 * k));
  return { boxesXy, labels: objects.map((o) => o.label) };
}

/**
 * Predictions for one image, made up from its objects: locs (1, n_priors, 4) gcxgcy and class
 * scores (1, n_priors, n_classes) logits. A prior's score for its best object's class grows with
 * its overlap (so priors half on an object are confused: the hard negatives), background is
 * likely elsewhere, and the offsets point at the object with some noise (so NMS has work to do).
 */
export function syntheticPredictions(objects: readonly SceneObject[], priorsCxcy: Tensor, nClasses: number, seed = 0): { locs: Tensor; scores: Tensor } {
  const nPriors = priorsCxcy.shape[0];
  const rng = new Rng(seed);
  const locs = new Tensor([1, nPriors, 4]); // (1, n_priors, 4)
  const scores = new Tensor([1, nPriors, nClasses]); // (1, n_priors, n_classes)
  const { boxesXy, labels } = objectTensors(objects);
  const match = objects.length > 0 ? matchPriors(boxesXy, labels, priorsCxcy) : null;
  for (let p = 0; p < nPriors; p++) {
    for (let c = 0; c < nClasses; c++) scores.data[p * nClasses + c] = 0.3 * rng.normal();
    scores.data[p * nClasses] += 2.5; // background
    for (let k = 0; k < 4; k++) locs.data[4 * p + k] = 0.4 * rng.normal();
    if (match === null) continue;
    const overlap = Math.min(match.overlapForPrior[p], 0.95); // a forced prior is not a sure one
    const label = labels[match.objectForPrior[p]];
    if (overlap > 0.15) {
      scores.data[p * nClasses + label] += 7 * overlap - 0.5;
      for (let k = 0; k < 4; k++) locs.data[4 * p + k] += match.locTargets.data[4 * p + k];
    }
  }
  return { locs, scores };
}
