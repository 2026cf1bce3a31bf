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
import { concat, permute, split } from '../tensor/ops';
import { Conv2d } from '../layers/conv2d';
import { Module } from '../layers/layer';
import { FEATURE_MAPS, boxesPerPosition } from './priors';
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
   */
  gather(locMaps: readonly Tensor[], classMaps: readonly Tensor[]): { locs: Tensor; scores: Tensor } {
    const locs: Tensor[] = [];
    const scores: Tensor[] = [];
    for (let k = 0; k < FEATURE_MAPS.length; k++) {
      const n = locMaps[k].shape[0];
      locs.push(permute(locMaps[k], [0, 2, 3, 1]).reshape([n, -1, 4])); // (N, H*W*boxes, 4)
      scores.push(permute(classMaps[k], [0, 2, 3, 1]).reshape([n, -1, this.nClasses])); // (N, H*W*boxes, n_classes)
    }
    return { locs: concat(locs, 1), scores: concat(scores, 1) };
  }

  /** The inverse of gather, for backward: dL/dlocs and dL/dscores -> the gradient of each conv's output. */
  scatter(dLocs: Tensor, dScores: Tensor): { dLocMaps: Tensor[]; dClassMaps: Tensor[] } {
    const priorsPerMap = FEATURE_MAPS.map((m) => m.size * m.size * boxesPerPosition(m));
    const dLocParts = split(dLocs, priorsPerMap, 1);
    const dScoreParts = split(dScores, priorsPerMap, 1);
    const n = dLocs.shape[0];
    const dLocMaps: Tensor[] = [];
    const dClassMaps: Tensor[] = [];
    for (let k = 0; k < FEATURE_MAPS.length; k++) {
      const size = FEATURE_MAPS[k].size;
      // undo the reshape and the permute: (N, H*W*boxes, 4) -> (N, H, W, boxes*4) -> (N, boxes*4, H, W)
      dLocMaps.push(permute(dLocParts[k].reshape([n, size, size, -1]), [0, 3, 1, 2]));
      dClassMaps.push(permute(dScoreParts[k].reshape([n, size, size, -1]), [0, 3, 1, 2]));
    }
    return { dLocMaps, dClassMaps };
  }
}
