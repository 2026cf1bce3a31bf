// Matching: which prior is responsible for which object, and what it should learn
// (SSD paper, section 2.2, "Matching strategy").
//
// Training needs a target for each of the 8732 priors of an image: a class (an object's label,
// or 0 for background) and, for the priors that found an object, the offsets (gcxgcy) that would
// move the prior onto it. The ground truth gives only a handful of boxes, so each box is handed
// to the priors that overlap it well. In the paper's words: first "match each ground truth box to
// the default box with the best jaccard overlap" (as in MultiBox), then "match default boxes to
// any ground truth with jaccard overlap higher than a threshold (0.5)". The result is the
// indicator x_ij^p of equation (1): prior i is matched to object j of class p. This follows the
// reference tutorial step by step. `ssd explain matching` draws the result.

import { Tensor, shapeToString } from '../tensor/tensor';
import { cxcyToGcxgcy, cxcyToXy, jaccardOverlap, xyToCxcy } from './boxes';

/** The targets of one image's priors. */
export interface MatchResult {
  /** (n_priors, 4) gcxgcy: the encoding of each prior's matched box (meaningful for positives only). */
  locTargets: Tensor;
  /** (n_priors) the class each prior should predict: a label 1..n_classes-1, or 0 for background. */
  classTargets: Int32Array;
  /** How many priors are not background. */
  nPositives: number;
  /**
   * (n_priors) the object each prior was matched to, an index into the boxes; -1 when the image
   * has no objects. Background priors keep the object they overlap most (their regression target
   * is computed from it, and ignored), so test classTargets, not this, for positives.
   */
  objectForPrior: Int32Array;
  /**
   * (n_priors) the Jaccard overlap of each prior with that object; 1 for a prior forced onto its
   * object (step 3 below), whatever its real overlap. Compared with the threshold to decide
   * positives. 0 when the image has no objects.
   */
  overlapForPrior: Float64Array;
  /** (n_objects) the prior each object was forced onto (its best prior); a later object may take it over. */
  priorForObject: Int32Array;
}

/**
 * Match the priors of one image to its ground-truth objects.
 *
 * @param boxesXy    (n_objects, 4) the objects, boundary coordinates (x_min, y_min, x_max, y_max),
 *                   fractions of the image. n_objects may be 0.
 * @param labels     (n_objects) their classes, each an integer >= 1 (0 is background).
 * @param priorsCxcy (n_priors, 4) the priors, centre-size coordinates.
 * @param threshold  a prior whose best overlap is below this is background.
 * @param imageIndex which image of the batch this is, only to say where in error messages.
 *
 * The targets are computed in the dtype of `boxesXy`. A box with zero or negative width or
 * height, or a non-finite coordinate, or a label that is not an integer >= 1, is an error that
 * names the image and the box: such a box would put a log(0) or a NaN into the loss.
 */
export function matchPriors(
  boxesXy: Tensor,
  labels: ArrayLike<number>,
  priorsCxcy: Tensor,
  threshold = 0.5,
  imageIndex?: number,
): MatchResult {
  const where = imageIndex === undefined ? 'matchPriors' : `matchPriors, image ${imageIndex}`;
  checkInputs(boxesXy, labels, priorsCxcy, threshold, where);
  const nObjects = boxesXy.shape[0];
  const nPriors = priorsCxcy.shape[0];
  const classTargets = new Int32Array(nPriors); // (n_priors), all background to begin with

  // An image without objects: every prior is background, and there is nothing to regress to.
  if (nObjects === 0) {
    return {
      locTargets: new Tensor([nPriors, 4], undefined, boxesXy.dtype),
      classTargets,
      nPositives: 0,
      objectForPrior: new Int32Array(nPriors).fill(-1),
      overlapForPrior: new Float64Array(nPriors),
      priorForObject: new Int32Array(0),
    };
  }

  // Overlap is measured between boundary boxes.
  const priorsXy = cxcyToXy(priorsCxcy); // (n_priors, 4)
  const overlap = jaccardOverlap(boxesXy, priorsXy); // (n_objects, n_priors)
  const iou = (o: number, p: number): number => overlap.data[o * nPriors + p];

  // 1. Each prior takes the object it overlaps most (on a tie, the first object in the list, as
  //    torch.max does).
  const objectForPrior = new Int32Array(nPriors); // (n_priors)
  const overlapForPrior = new Float64Array(nPriors); // (n_priors)
  for (let p = 0; p < nPriors; p++) {
    let best = 0;
    for (let o = 1; o < nObjects; o++) if (iou(o, p) > iou(best, p)) best = o;
    objectForPrior[p] = best;
    overlapForPrior[p] = iou(best, p);
  }

  // That alone can leave an object with no prior at all: it may be nobody's best object, or all
  // its overlaps may be below the threshold (a small or thin box, e.g. a lamp post).
  // 2. So find, for each object, the prior it overlaps most (on a tie, the first prior)... (the
  //    paper's first rule: "match each ground truth box to the default box with the best jaccard
  //    overlap"; steps 1 and 4 are its second: "match default boxes to any ground truth with
  //    jaccard overlap higher than a threshold")
  const priorForObject = new Int32Array(nObjects); // (n_objects)
  for (let o = 0; o < nObjects; o++) {
    let best = 0;
    for (let p = 1; p < nPriors; p++) if (iou(o, p) > iou(o, best)) best = p;
    priorForObject[o] = best;
  }

  // 3. ...and give that prior to the object, whatever step 1 said. Its overlap is set to 1 so
  //    that the threshold below cannot take it away again. When two objects share a best prior,
  //    the later one in the list overwrites the earlier (as the reference's indexed assignment
  //    does), and the earlier one may end up with no prior.
  for (let o = 0; o < nObjects; o++) {
    objectForPrior[priorForObject[o]] = o;
    overlapForPrior[priorForObject[o]] = 1;
  }

  // 4. Labels: a prior whose overlap with its object is below the threshold is background. The
  //    positives are the paper's x_ij^p = 1 (equation 1): prior i matched to object j of class p.
  let nPositives = 0;
  for (let p = 0; p < nPriors; p++) {
    if (overlapForPrior[p] >= threshold) {
      classTargets[p] = labels[objectForPrior[p]];
      nPositives++;
    }
  }

  // 5. Regression targets: each prior's matched box, encoded as offsets from the prior. Background
  //    priors get one too (the box they overlap most), as in the reference; the loss ignores it.
  const matchedXy = new Tensor([nPriors, 4], undefined, boxesXy.dtype); // (n_priors, 4)
  for (let p = 0; p < nPriors; p++) {
    const o = objectForPrior[p];
    for (let k = 0; k < 4; k++) matchedXy.data[4 * p + k] = boxesXy.data[4 * o + k];
  }
  const locTargets = cxcyToGcxgcy(xyToCxcy(matchedXy), priorsCxcy); // (n_priors, 4)

  return { locTargets, classTargets, nPositives, objectForPrior, overlapForPrior, priorForObject };
}

function checkInputs(boxesXy: Tensor, labels: ArrayLike<number>, priorsCxcy: Tensor, threshold: number, where: string): void {
  if (boxesXy.rank !== 2 || boxesXy.shape[1] !== 4) {
    throw new Error(`${where}: expected boxes of shape (n_objects, 4), got ${shapeToString(boxesXy.shape)}`);
  }
  if (priorsCxcy.rank !== 2 || priorsCxcy.shape[1] !== 4 || priorsCxcy.shape[0] === 0) {
    throw new Error(`${where}: expected priors of shape (n_priors, 4) with n_priors > 0, got ${shapeToString(priorsCxcy.shape)}`);
  }
  if (!(threshold > 0 && threshold <= 1)) {
    throw new Error(`${where}: the overlap threshold must be in (0, 1], got ${threshold}`);
  }
  const nObjects = boxesXy.shape[0];
  if (labels.length !== nObjects) {
    throw new Error(`${where}: ${nObjects} boxes but ${labels.length} labels`);
  }
  for (let o = 0; o < nObjects; o++) {
    const [x0, y0, x1, y1] = [0, 1, 2, 3].map((k) => boxesXy.data[4 * o + k]);
    const box = `box ${o} (${x0}, ${y0}, ${x1}, ${y1})`;
    if (![x0, y0, x1, y1].every(Number.isFinite)) {
      throw new Error(`${where}: ${box} has a non-finite coordinate`);
    }
    // Written so that NaN fails too; an inverted box has a negative width or height.
    if (!(x1 - x0 > 0 && y1 - y0 > 0)) {
      throw new Error(`${where}: ${box} has width ${x1 - x0} and height ${y1 - y0}; both must be positive`);
    }
    const label = labels[o];
    if (!(Number.isInteger(label) && label >= 1)) {
      throw new Error(`${where}: box ${o} has label ${label}; labels must be integers >= 1 (0 is background)`);
    }
  }
}
