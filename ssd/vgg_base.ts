// The VGG-16 base network, as SSD modifies it (paper section 3, "Base network"):
// the classifier is dropped, pool5 becomes 3x3 stride 1 (so conv5_3's 19x19 map is kept), and
// the fully connected fc6 and fc7 become conv6 (3x3, dilation 6: an "atrous" convolution that
// sees as wide as the original fc6 with far fewer weights) and conv7 (1x1).
//
// Two of its maps feed the detector: conv4_3 (N, 512, 38, 38) and conv7 (N, 1024, 19, 19); the
// layers up to each are kept as two lists, which SSD300's topology runs.
// `widthDivisor` divides every output channel count (for small test and demo models with the
// very same structure and spatial sizes). With `batchNorm`, every conv is followed by a
// BatchNorm2d before its ReLU (as torchvision's vgg16_bn), named after it: conv1_1 -> bn1_1; the
// ReLU is then applied by the batch norm itself, in the same passes (its relu option). Without
// batch norm, the conv applies its ReLU itself (Conv2d's relu option): the same values as a ReLU
// layer after it, with one pass less over every map.

import { Rng } from '../tensor/random';
import { Conv2d } from '../layers/conv2d';
import { Layer, LayerOptions, Module } from '../layers/layer';
import { MaxPool2d } from '../layers/maxpool2d';
import { BatchNorm2d } from '../layers/batchnorm2d';

/** One row of the VGG table: a 3x3/pad-1 conv + ReLU unless said otherwise, or a max pool. */
type VggStep =
  | { conv: string; out: number; kernelSize?: number; padding?: number; dilation?: number }
  | { pool: string; kernelSize: number; stride: number; padding?: number; ceilMode?: boolean };

// Spatial sizes are those of a 300x300 input.
export const VGG_TABLE: readonly VggStep[] = [
  { conv: 'conv1_1', out: 64 }, //                                   (N, 64, 300, 300)
  { conv: 'conv1_2', out: 64 }, //                                   (N, 64, 300, 300)
  { pool: 'pool1', kernelSize: 2, stride: 2 }, //                    (N, 64, 150, 150)
  { conv: 'conv2_1', out: 128 }, //                                  (N, 128, 150, 150)
  { conv: 'conv2_2', out: 128 }, //                                  (N, 128, 150, 150)
  { pool: 'pool2', kernelSize: 2, stride: 2 }, //                    (N, 128, 75, 75)
  { conv: 'conv3_1', out: 256 }, //                                  (N, 256, 75, 75)
  { conv: 'conv3_2', out: 256 }, //                                  (N, 256, 75, 75)
  { conv: 'conv3_3', out: 256 }, //                                  (N, 256, 75, 75)
  // ceil mode: 75 is odd and floor would give 37; SSD's conv4_3 map is 38x38
  { pool: 'pool3', kernelSize: 2, stride: 2, ceilMode: true }, //    (N, 256, 38, 38)
  { conv: 'conv4_1', out: 512 }, //                                  (N, 512, 38, 38)
  { conv: 'conv4_2', out: 512 }, //                                  (N, 512, 38, 38)
  { conv: 'conv4_3', out: 512 }, //                                  (N, 512, 38, 38) -> first feature map
  { pool: 'pool4', kernelSize: 2, stride: 2 }, //                    (N, 512, 19, 19)
  { conv: 'conv5_1', out: 512 }, //                                  (N, 512, 19, 19)
  { conv: 'conv5_2', out: 512 }, //                                  (N, 512, 19, 19)
  { conv: 'conv5_3', out: 512 }, //                                  (N, 512, 19, 19)
  // 3x3 stride 1 padding 1: keeps 19x19 (the original VGG pool5 would halve it)
  { pool: 'pool5', kernelSize: 3, stride: 1, padding: 1 }, //        (N, 512, 19, 19)
  { conv: 'conv6', out: 1024, dilation: 6, padding: 6 }, //          (N, 1024, 19, 19)
  { conv: 'conv7', out: 1024, kernelSize: 1, padding: 0 }, //        (N, 1024, 19, 19) -> second feature map
];

export interface SsdPartOptions extends LayerOptions {
  widthDivisor?: number;
  rng?: Rng;
  /**
   * Initial weights of the VGG convs: 'pytorch' (nn.Conv2d's default, what the reference model
   * has before it loads ImageNet weights) or 'kaiming' (torchvision's VGG init, needed to train
   * the base from scratch; see layers/init.ts).
   */
  baseInit?: 'pytorch' | 'kaiming';
  /** A batch norm after every base and auxiliary conv, before its ReLU (to train from scratch). */
  batchNorm?: boolean;
  /**
   * Initial weights of the prediction convs: 'xavier' (default, the reference SSD's) or 'normal'
   * (std 0.01, the heads start by scoring every class alike: see layers/conv2d.ts).
   */
  headInit?: 'xavier' | 'normal';
}

/** The batch norm that follows a conv: 'conv4_3' -> 'bn4_3', 'conv7' -> 'bn7'. */
export function batchNormName(convName: string): string {
  return `bn${convName.slice('conv'.length)}`;
}

/** Output channels of a layer of a model narrowed by `divisor` (at least 1). */
export function narrowed(channels: number, divisor: number): number {
  return Math.max(1, Math.round(channels / divisor));
}

export class VGGBase extends Module {
  /** Layers up to and including conv4_3's ReLU, then the rest up to conv7's ReLU. */
  readonly toConv4_3: Layer[] = [];
  readonly toConv7: Layer[] = [];
  readonly conv4_3Channels: number;
  readonly conv7Channels: number;

  constructor(options: SsdPartOptions = {}) {
    super('base', options);
    const divisor = options.widthDivisor ?? 1;
    const rng = options.rng ?? new Rng(0);
    let channels = 3;
    let stage = this.toConv4_3;
    let conv4_3Channels = 0;
    for (const step of VGG_TABLE) {
      if ('conv' in step) {
        const out = narrowed(step.out, divisor);
        stage.push(
          new Conv2d(step.conv, {
            ...options,
            inChannels: channels,
            outChannels: out,
            kernelSize: step.kernelSize ?? 3,
            padding: step.padding ?? 1,
            dilation: step.dilation ?? 1,
            rng,
            init: options.baseInit ?? 'pytorch',
            relu: !options.batchNorm,
          }),
        );
        // with batch norm, the ReLU is fused into it (layers/batchnorm2d.ts), else into the conv:
        // the same values as a ReLU layer, fewer passes over memory
        if (options.batchNorm) stage.push(new BatchNorm2d(batchNormName(step.conv), { ...options, channels: out, relu: true }));
        channels = out;
        if (step.conv === 'conv4_3') {
          conv4_3Channels = out;
          stage = this.toConv7;
        }
      } else {
        stage.push(new MaxPool2d(step.pool, { ...options, ...step }));
      }
    }
    this.conv4_3Channels = conv4_3Channels;
    this.conv7Channels = channels;
  }

  override children(): Layer[] {
    return [...this.toConv4_3, ...this.toConv7];
  }
}
