// SSD300: the whole detector (paper figure 2).
//
//   image (N, 3, 300, 300)
//     -> VGG base ............ conv4_3 (N, 512, 38, 38), conv7 (N, 1024, 19, 19)
//     -> L2Norm on conv4_3 ... (N, 512, 38, 38), rescaled by the learned rescale_factors
//     -> auxiliary convs ..... conv8_2 (N, 512, 10, 10), conv9_2 (N, 256, 5, 5),
//                              conv10_2 (N, 256, 3, 3), conv11_2 (N, 256, 1, 1)
//     -> prediction convs .... locs (N, 8732, 4), class scores (N, 8732, n_classes)
//
// The data flow is written down once, as `topology`: chains of layers, each reading one named map
// and making another. `forward` runs the chains in order, `backward` in reverse (a map read by
// several chains, as conv4_3, conv7 and conv8_2 ... are, gets the sum of their gradients), and
// the summary (summary.ts) walks the same list. `forward` keeps what `backward` needs; `backward`
// takes dL/dlocs and dL/dscores (from the MultiBox loss), fills every parameter's gradient and
// returns dL/dimage.

import { Tensor, assertShape } from '../tensor/tensor';
import { Rng } from '../tensor/random';
import { addInPlace } from '../tensor/ops';
import { Kernels } from '../kernels/kernels';
import { referenceKernels } from '../kernels/cpu/reference';
import { Conv2d } from '../layers/conv2d';
import { L2Norm } from '../layers/l2norm';
import { Layer, Module, NamedParameter, loadStateDict, stateDict } from '../layers/layer';
import { readSafetensors, writeSafetensors } from '../tensor/safetensors';
import { DType } from '../tensor/tensor';
import { VGGBase } from './vgg_base';
import { AUX_TABLE, AuxiliaryConvs } from './auxiliary_convs';
import { PredictionConvs } from './prediction_convs';
import { FEATURE_MAPS, SSD_INPUT_SIZE, boxesPerPosition, createPriors } from './priors';

export interface SSD300Options {
  /** Number of classes including background (index 0); 21 for Pascal VOC. */
  nClasses?: number;
  /** Divide the output channels of every base and auxiliary conv (1 = the real SSD300). */
  widthDivisor?: number;
  kernels?: Kernels;
  dtype?: DType;
  /** Seed of the initial weights. */
  seed?: number;
  /** Initial weights of the VGG base: 'pytorch' (default) or 'kaiming' (to train from scratch). */
  baseInit?: 'pytorch' | 'kaiming';
  /**
   * A BatchNorm2d after every base and auxiliary conv, before its ReLU: what makes SSD train from
   * scratch (see layers/batchnorm2d.ts). Off by default: the reference SSD300 has none.
   */
  batchNorm?: boolean;
  /** Initial weights of the prediction convs: 'xavier' (default) or 'normal' (std 0.01; see layers/conv2d.ts). */
  headInit?: 'xavier' | 'normal';
}

export interface SSD300Output {
  locs: Tensor; // (N, 8732, 4)   offsets gcxgcy from the priors
  scores: Tensor; // (N, 8732, n_classes)   raw class scores (logits)
  /** The six feature maps (conv4_3 after L2Norm), when asked for. */
  features?: Tensor[];
}

/** The input's side (300): defined with the priors, which are fractions of it. */
export { SSD_INPUT_SIZE };

/**
 * One chain of the model's data flow: it reads the map called `from`, runs `layers` in order and
 * makes the map called `to`. 'image' is the input; the last twelve chains are the prediction
 * convs, making 'loc_conv4_3', 'cl_conv4_3', ... 'cl_conv11_2'.
 */
export interface LayerChain {
  from: string;
  to: string;
  layers: readonly Layer[];
}

/** The map of conv4_3 after the L2 norm: what the detector sees of conv4_3. */
const CONV4_3_NORMALIZED = 'conv4_3 (L2 normalized)';

export class SSD300 extends Module {
  readonly nClasses: number;
  readonly widthDivisor: number;
  readonly batchNorm: boolean;
  readonly base: VGGBase;
  /** Normalizes conv4_3; its parameter is the top-level 'rescale_factors' (1, 512, 1, 1). */
  readonly l2norm: L2Norm;
  readonly auxConvs: AuxiliaryConvs;
  readonly predConvs: PredictionConvs;
  /** The 8732 priors in centre-size form (c_x, c_y, w, h), fractions of the image. */
  readonly priorsCxcy: Tensor;
  /** The data flow, in the order forward runs it (see LayerChain). */
  readonly topology: readonly LayerChain[];
  /** The six maps the prediction convs read, in FEATURE_MAPS order. */
  readonly detectorInputs: readonly string[];
  /** Every map the last forward pass made (the layers keep some for backward), given back by clearCache. */
  private activations: Tensor[] = [];

  constructor(options: SSD300Options = {}) {
    const kernels = options.kernels ?? referenceKernels;
    super('', { kernels, dtype: options.dtype });
    this.nClasses = options.nClasses ?? 21;
    this.widthDivisor = checkWidthDivisor(options.widthDivisor ?? 1);
    this.batchNorm = options.batchNorm ?? false;
    const rng = new Rng(options.seed ?? 0);
    const common = {
      kernels, dtype: options.dtype, widthDivisor: this.widthDivisor, rng, baseInit: options.baseInit, batchNorm: this.batchNorm, headInit: options.headInit,
    };
    this.base = new VGGBase(common);
    this.l2norm = new L2Norm('l2norm', { kernels, dtype: options.dtype, channels: this.base.conv4_3Channels });
    this.auxConvs = new AuxiliaryConvs(this.base.conv7Channels, common);
    const mapChannels = [this.base.conv4_3Channels, this.base.conv7Channels, ...this.auxConvs.outChannels];
    this.predConvs = new PredictionConvs(mapChannels, this.nClasses, common);
    this.priorsCxcy = createPriors();

    //   image -> conv4_3 -> conv7 -> conv8_2 -> conv9_2 -> conv10_2 -> conv11_2   (the trunk)
    //            conv4_3 -> L2 norm                                                  (its own scale)
    //   each of the six detector inputs -> loc_<map> and cl_<map>                    (the predictions)
    const auxMaps = AUX_TABLE.map((row) => `${row.name}_2`); // conv8_2 ... conv11_2
    this.detectorInputs = [CONV4_3_NORMALIZED, 'conv7', ...auxMaps];
    this.topology = [
      { from: 'image', to: 'conv4_3', layers: this.base.toConv4_3 },
      { from: 'conv4_3', to: 'conv7', layers: this.base.toConv7 },
      { from: 'conv4_3', to: CONV4_3_NORMALIZED, layers: [this.l2norm] },
      ...this.auxConvs.stages.map((stage, k) => ({ from: k === 0 ? 'conv7' : auxMaps[k - 1], to: auxMaps[k], layers: stage })),
      ...FEATURE_MAPS.flatMap((map, k) => [
        { from: this.detectorInputs[k], to: `loc_${map.name}`, layers: [this.predConvs.locConvs[k]] },
        { from: this.detectorInputs[k], to: `cl_${map.name}`, layers: [this.predConvs.classConvs[k]] },
      ]),
    ];
    // The weights and their gradients where the kernels read them without a copy (the wasm
    // backend's memory): every convolution and every optimizer step then reads them in place.
    for (const p of this.parameters()) p.placeIn(kernels);
  }

  override children(): Module[] {
    return [this.l2norm, this.base, this.auxConvs, this.predConvs];
  }

  /** 'rescale_factors' sits at the top level of the reference model's state_dict, the rest under their module. */
  override namedParameters(): NamedParameter[] {
    const params: NamedParameter[] = [['rescale_factors', this.l2norm.scale]];
    for (const child of [this.base, this.auxConvs, this.predConvs]) {
      for (const [name, p] of child.namedParameters()) params.push([`${child.name}.${name}`, p]);
    }
    return params;
  }

  async forward(images: Tensor, options: { features?: boolean } = {}): Promise<SSD300Output> {
    assertShape(images, [-1, 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE], 'SSD300 input images');
    this.releaseActivations(); // a new forward pass: the layers forget the last one's
    const maps = new Map<string, Tensor>([['image', images]]); // every map the chains make, by name
    for (const chain of this.topology) {
      let x = maps.get(chain.from)!;
      for (const layer of chain.layers) {
        x = await layer.forward(x);
        this.activations.push(x);
      }
      maps.set(chain.to, x);
    }
    // the twelve prediction maps, (N, boxes*4, H, W) and (N, boxes*n_classes, H, W), laid out prior by prior
    const { locs, scores } = this.predConvs.gather(
      FEATURE_MAPS.map((m) => maps.get(`loc_${m.name}`)!),
      FEATURE_MAPS.map((m) => maps.get(`cl_${m.name}`)!),
    ); // (N, 8732, 4), (N, 8732, n_classes)
    if (!options.features) return { locs, scores };
    // copies: the maps themselves are the backend's, given back at the next forward or clearCache
    return { locs, scores, features: this.detectorInputs.map((name) => maps.get(name)!.clone()) };
  }

  /**
   * dL/dlocs (N, 8732, 4), dL/dscores (N, 8732, n_classes) -> dL/dimages (N, 3, 300, 300), adding
   * every parameter's gradient on the way.
   */
  async backward(dLocs: Tensor, dScores: Tensor): Promise<Tensor> {
    return (await this.backwardThrough(dLocs, dScores, true))!;
  }

  /**
   * What training needs of backward: every parameter's gradient, but not the images'. conv1_1
   * then skips its input gradient (3 x 300 x 300 per image, 2-3% of a training step).
   */
  async backwardToParameters(dLocs: Tensor, dScores: Tensor): Promise<void> {
    await this.backwardThrough(dLocs, dScores, false);
  }

  private async backwardThrough(dLocs: Tensor, dScores: Tensor, imageGradient: boolean): Promise<Tensor | null> {
    const { dLocMaps, dClassMaps } = this.predConvs.scatter(dLocs, dScores);
    const grads = new Map<string, Tensor>(); // dL/d(map), by name
    FEATURE_MAPS.forEach((m, k) => {
      grads.set(`loc_${m.name}`, dLocMaps[k]);
      grads.set(`cl_${m.name}`, dClassMaps[k]);
    });
    for (let c = this.topology.length - 1; c >= 0; c--) {
      const chain = this.topology[c];
      let g = grads.get(chain.to)!; // complete: every chain reading this map came later, so is done
      for (let i = chain.layers.length - 1; i >= 0; i--) {
        const layer = chain.layers[i];
        if (!imageGradient && chain.from === 'image' && i === 0 && layer instanceof Conv2d) {
          // conv1_1: its weights' gradients, not the image's. The chain from the image runs first
          // forward, so last backward: nothing is left to do.
          await layer.parameterGradients(g);
          this.kernels.release(g);
          return null;
        }
        const dx = await layer.backward(g);
        this.kernels.release(g); // each gradient is read once, by the layer it comes out of
        g = dx;
      }
      const sum = grads.get(chain.from);
      if (sum === undefined) grads.set(chain.from, g);
      else {
        addInPlace(sum, g); // this map feeds several chains: its gradient is the sum of theirs
        this.kernels.release(g);
      }
    }
    // a copy in ordinary memory: the caller keeps it
    const dImages = grads.get('image')!;
    const copy = dImages.clone();
    this.kernels.release(dImages);
    return copy;
  }

  /**
   * Forget what forward kept for backward, and give the backend the maps it made: the kernels'
   * outputs live in the backend's memory (kernels/wasm/heap.ts), which the next step reuses.
   */
  override clearCache(): void {
    super.clearCache();
    this.releaseActivations();
  }

  private releaseActivations(): void {
    for (const t of this.activations) this.kernels.release(t);
    this.activations = [];
  }

  /**
   * Save the weights as safetensors, with the reference PyTorch SSD300's names (atomic write).
   * A batch-norm model adds, per conv, 'base.bn1_1.weight', '.bias', '.running_mean',
   * '.running_var' and '.num_batches_tracked' (as PyTorch's BatchNorm2d state_dict has them).
   */
  saveWeights(path: string, metadata: Record<string, string> = {}): void {
    writeSafetensors(path, stateDict(this), { ...this.weightsMetadata(), ...metadata });
  }

  /** What saveWeights writes into the file's metadata about the model itself. */
  weightsMetadata(): Record<string, string> {
    return {
      format: 'pt',
      model: 'SSD300',
      n_classes: String(this.nClasses),
      width_divisor: String(this.widthDivisor),
      batch_norm: String(this.batchNorm),
    };
  }

  /**
   * Load safetensors weights; names, shapes and dtypes must all match (errors name the tensor and
   * the file). A training checkpoint loads too: its optimizer state is skipped.
   */
  loadWeights(path: string): void {
    this.loadTensors(readSafetensors(path).tensors, path);
  }

  /** loadWeights from tensors already read (a checkpoint's); `source` names them in errors. */
  loadTensors(tensors: Map<string, Tensor>, source: string): void {
    loadStateDict(this, modelTensors(tensors), source);
  }

  /** The shape fromWeights reads off the tensors, without building the model. */
  static shapeOfWeights(tensors: Map<string, Tensor>, source: string): WeightsShape {
    const clBias = tensors.get('pred_convs.cl_conv11_2.bias');
    const conv1 = tensors.get('base.conv1_1.weight');
    if (clBias === undefined || conv1 === undefined) {
      throw new Error(`${source}: not SSD300 weights (no 'pred_convs.cl_conv11_2.bias' or 'base.conv1_1.weight')`);
    }
    // cl_conv11_2 has boxesPerPosition (4) priors per position, n_classes scores each
    const nClasses = clBias.size / boxesPerPosition(FEATURE_MAPS[FEATURE_MAPS.length - 1]);
    const widthDivisor = 64 / conv1.shape[0]; // conv1_1 has 64 / widthDivisor output channels
    if (!Number.isInteger(nClasses) || nClasses < 2 || !WIDTH_DIVISORS.includes(widthDivisor)) {
      throw new Error(`${source}: cannot read the model's shape (cl_conv11_2 bias has ${clBias.size} values, conv1_1 ${conv1.shape[0]} output channels)`);
    }
    return { nClasses, widthDivisor, batchNorm: tensors.has('base.bn1_1.weight') };
  }

  /**
   * A model shaped to fit a weights file, with its weights loaded. The shape is read off the
   * tensors themselves, so weights exported from PyTorch without metadata load too:
   * cl_conv11_2 has boxesPerPosition * n_classes (4 * n_classes) outputs, conv1_1 has 64 / widthDivisor, and a batch-norm
   * model has 'base.bn1_1.weight'. `source` is the file's name for errors.
   */
  static fromWeights(tensors: Map<string, Tensor>, source: string, options: { kernels?: Kernels; dtype?: DType } = {}): SSD300 {
    const { nClasses, widthDivisor, batchNorm } = SSD300.shapeOfWeights(tensors, source);
    const model = new SSD300({ ...options, nClasses, widthDivisor, batchNorm });
    loadStateDict(model, modelTensors(tensors), source);
    return model;
  }
}

/** What a weights file says about the model's shape (see SSD300.shapeOfWeights). */
export interface WeightsShape {
  nClasses: number;
  widthDivisor: number;
  batchNorm: boolean;
}

/** Names under this prefix in a weights file are a training checkpoint's optimizer state, not weights. */
export const OPTIMIZER_STATE_PREFIX = 'optimizer.';

/** The tensors of a weights file or checkpoint that belong to the model. */
export function modelTensors(tensors: Map<string, Tensor>): Map<string, Tensor> {
  return new Map([...tensors].filter(([name]) => !name.startsWith(OPTIMIZER_STATE_PREFIX)));
}

/**
 * Width divisors that divide every channel count of SSD300 (64 ... 1024) exactly, so that the
 * narrowed model's shape can be read back from its weights. 64 is the largest: conv1_1 keeps one channel.
 */
export const WIDTH_DIVISORS: readonly number[] = [1, 2, 4, 8, 16, 32, 64];

function checkWidthDivisor(divisor: number): number {
  if (!WIDTH_DIVISORS.includes(divisor)) {
    throw new Error(`SSD300: width divisor ${divisor} does not divide every channel count (64 ... 1024); choose one of ${WIDTH_DIVISORS.join(', ')}`);
  }
  return divisor;
}
