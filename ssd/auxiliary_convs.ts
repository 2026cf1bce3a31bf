// The auxiliary convolutions SSD stacks on top of VGG (paper section 2.1, "Multi-scale feature
// maps for detection"): each pair (a 1x1 conv that narrows, then a 3x3 conv) makes a smaller
// map, so that larger objects are detected on coarser maps.
//   conv7    (N, 1024, 19, 19)
//   conv8_2  (N, 512, 10, 10)   3x3 stride 2 pad 1
//   conv9_2  (N, 256, 5, 5)     3x3 stride 2 pad 1
//   conv10_2 (N, 256, 3, 3)     3x3 valid
//   conv11_2 (N, 256, 1, 1)     3x3 valid
// Every conv is followed by a ReLU, fused into the conv (with `batchNorm`, by a BatchNorm2d with the ReLU fused in). Each
// map feeds both the next stage and the detector; SSD300's topology runs the stages.

import { Rng } from '../tensor/random';
import { Conv2d } from '../layers/conv2d';
import { Layer, Module } from '../layers/layer';
import { BatchNorm2d } from '../layers/batchnorm2d';
import { SsdPartOptions, batchNormName, narrowed } from './vgg_base';

export const AUX_TABLE = [
  { name: 'conv8', mid: 256, out: 512, stride: 2, padding: 1 },
  { name: 'conv9', mid: 128, out: 256, stride: 2, padding: 1 },
  { name: 'conv10', mid: 128, out: 256, stride: 1, padding: 0 },
  { name: 'conv11', mid: 128, out: 256, stride: 1, padding: 0 },
] as const;

export class AuxiliaryConvs extends Module {
  /** One stage per row of AUX_TABLE: [convN_1, convN_2], each with its ReLU fused, or [convN_1, bnN_1, convN_2, bnN_2] with batch norm (the ReLU in the batch norm). */
  readonly stages: Layer[][] = [];
  /** Output channels of conv8_2, conv9_2, conv10_2, conv11_2. */
  readonly outChannels: number[] = [];

  constructor(inChannels: number, options: SsdPartOptions = {}) {
    super('aux_convs', options);
    const divisor = options.widthDivisor ?? 1;
    const rng = options.rng ?? new Rng(1);
    let channels = inChannels;
    for (const row of AUX_TABLE) {
      const mid = narrowed(row.mid, divisor);
      const out = narrowed(row.out, divisor);
      const common = { ...options, rng, init: 'xavier' as const, relu: !options.batchNorm };
      const stage: Layer[] = [];
      const convs = [
        new Conv2d(`${row.name}_1`, { ...common, inChannels: channels, outChannels: mid, kernelSize: 1 }),
        new Conv2d(`${row.name}_2`, { ...common, inChannels: mid, outChannels: out, kernelSize: 3, stride: row.stride, padding: row.padding }),
      ];
      for (const conv of convs) {
        stage.push(conv);
        // with batch norm, the ReLU is fused into it (layers/batchnorm2d.ts), else into the conv
        if (options.batchNorm) stage.push(new BatchNorm2d(batchNormName(conv.name), { ...options, channels: conv.weight.value.shape[0], relu: true }));
      }
      this.stages.push(stage);
      this.outChannels.push(out);
      channels = out;
    }
  }

  override children(): Layer[] {
    return this.stages.flat();
  }
}
