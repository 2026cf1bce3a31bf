// The prediction convolutions (paper section 2.1, "Convolutional predictors for detection"):
// on each of the six feature maps, one 3x3 conv predicts 4 box offsets per prior (loc_*) and one
// predicts n_classes scores per prior (cl_*), at every position. The table of maps in priors.ts
// says how many priors each position has (4 or 6): that is what makes a channel of cl_conv7 the
// score of one particular prior.
//
// The twelve outputs (SSD300's topology runs the convs) are permuted NCHW -> NHWC and flattened,
// so that the priors of a position are consecutive and positions run row by row, the order
// createPriors() uses, and concatenated (gather; scatter undoes it for backward):
//   locs   (N, 8732, 4)
//   scores (N, 8732, n_classes)
// 8732 = 38*38*4 + 19*19*6 + 10*10*6 + 5*5*6 + 3*3*4 + 1*1*4.

import { Tensor } from '../tensor/tensor';
import { Rng } from '../tensor/random';
import { Conv2d } from '../layers/conv2d';
import { Module } from '../layers/layer';
import { FEATURE_MAPS, boxesPerPosition, priorCount } from './priors';
import { SsdPartOptions } from './vgg_base';

export class PredictionConvs extends Module {
  readonly locConvs: Conv2d[] = [];
  readonly classConvs: Conv2d[] = [];

  constructor(
    /** Channels of the six feature maps, in FEATURE_MAPS order. */
    inChannels: readonly number[],
    readonly nClasses: number,
    options: SsdPartOptions = {},
  ) {
    super('pred_convs', options);
    if (!(Number.isInteger(nClasses) && nClasses >= 2)) throw new Error(`PredictionConvs: nClasses must be an integer >= 2 (background + 1), got ${nClasses}`);
    const rng = options.rng ?? new Rng(2);
    FEATURE_MAPS.forEach((map, k) => {
      const boxes = boxesPerPosition(map);
      const common = { ...options, rng, inChannels: inChannels[k], kernelSize: 3, padding: 1, init: options.headInit ?? 'xavier' };
      this.locConvs.push(new Conv2d(`loc_${map.name}`, { ...common, outChannels: boxes * 4 }));
      this.classConvs.push(new Conv2d(`cl_${map.name}`, { ...common, outChannels: boxes * nClasses }));
    });
  }

  /** PyTorch's registration order: all loc_* first, then all cl_*. */
  override children(): Conv2d[] {
    return [...this.locConvs, ...this.classConvs];
  }

  /**
   * The twelve conv outputs -> locs (N, 8732, 4) and class scores (N, 8732, n_classes).
   * locMaps[k] (N, boxes*4, H, W), classMaps[k] (N, boxes*n_classes, H, W), in FEATURE_MAPS order.
   * Each map is permuted NCHW -> NHWC and reshaped to (N, H*W*boxes, 4 or n_classes), and the six
   * are concatenated along the priors: written here in one pass per map (toPriorRows), the same
   * values as permute, reshape and concat (tensor/ops.ts) one after the other.
   */
  gather(locMaps: readonly Tensor[], classMaps: readonly Tensor[]): { locs: Tensor; scores: Tensor } {
    const n = locMaps[0].shape[0];
    const locs = new Tensor([n, priorCount(), 4], undefined, locMaps[0].dtype); // (N, 8732, 4)
    const scores = new Tensor([n, priorCount(), this.nClasses], undefined, classMaps[0].dtype); // (N, 8732, n_classes)
    let first = 0; // the first prior of map k
    for (let k = 0; k < FEATURE_MAPS.length; k++) {
      toPriorRows(locMaps[k], locs, first, 'gather');
      toPriorRows(classMaps[k], scores, first, 'gather');
      first += FEATURE_MAPS[k].size * FEATURE_MAPS[k].size * boxesPerPosition(FEATURE_MAPS[k]);
    }
    return { locs, scores };
  }

  /** The inverse of gather, for backward: dL/dlocs and dL/dscores -> the gradient of each conv's output. */
  scatter(dLocs: Tensor, dScores: Tensor): { dLocMaps: Tensor[]; dClassMaps: Tensor[] } {
    const n = dLocs.shape[0];
    const dLocMaps: Tensor[] = [];
    const dClassMaps: Tensor[] = [];
    let first = 0;
    for (const map of FEATURE_MAPS) {
      const boxes = boxesPerPosition(map);
      // (N, H*W*boxes, 4) -> (N, H, W, boxes*4) -> (N, boxes*4, H, W), and the same for the classes
      const dLoc = new Tensor([n, boxes * 4, map.size, map.size], undefined, dLocs.dtype);
      const dClass = new Tensor([n, boxes * this.nClasses, map.size, map.size], undefined, dScores.dtype);
      toPriorRows(dLoc, dLocs, first, 'scatter');
      toPriorRows(dClass, dScores, first, 'scatter');
      dLocMaps.push(dLoc);
      dClassMaps.push(dClass);
      first += map.size * map.size * boxes;
    }
    return { dLocMaps, dClassMaps };
  }
}

/**
 * A prediction map (N, C, H, W), C = boxes * per, against rows first.. of a prior tensor
 * (N, n_priors, per): row first + (y * W + x) * boxes + b, column c holds channel b * per + c at
 * (y, x). In NHWC order a position's C channels are its boxes' rows one after the other, so
 * element (n, p = y * W + x, ch) of the map goes to flat index (first * per) + p * C + ch of image
 * n's rows: a transpose of each image's (C, H*W) into (H*W, C). 'gather' copies the map into the
 * rows, 'scatter' the rows into the map.
 */
function toPriorRows(map: Tensor, rows: Tensor, first: number, direction: 'gather' | 'scatter'): void {
  const [n, channels, h, w] = map.shape;
  const positions = h * w;
  const [, nPriors, per] = rows.shape;
  for (let i = 0; i < n; i++) {
    const mapImage = i * channels * positions;
    const rowImage = (i * nPriors + first) * per;
    for (let ch = 0; ch < channels; ch++) {
      const plane = mapImage + ch * positions;
      if (direction === 'gather') for (let p = 0; p < positions; p++) rows.data[rowImage + p * channels + ch] = map.data[plane + p];
      else for (let p = 0; p < positions; p++) map.data[plane + p] = rows.data[rowImage + p * channels + ch];
    }
  }
}
