// Reading a model and its class names from a weights file or training checkpoint, for the CLI.

import { readSafetensors } from '../tensor/safetensors';
import { Tensor } from '../tensor/tensor';
import { Kernels } from '../kernels/kernels';
import { SSD300, WeightsShape, modelTensors } from '../ssd/ssd300';
import { VGG_TABLE, batchNormName, narrowed } from '../ssd/vgg_base';
import { AUX_TABLE } from '../ssd/auxiliary_convs';
import { FEATURE_MAPS, boxesPerPosition } from '../ssd/priors';
import { classNamesOfWeights } from '../data/class_names';

/**
 * The name and shape of every tensor of SSD300's state_dict for a model of this shape, worked out
 * from the tables the model is built from (ssd/vgg_base.ts, auxiliary_convs.ts, priors.ts), without
 * building it. spec/cli/model_files.spec.ts holds it to the names and shapes of real models.
 */
export function expectedWeightShapes({ nClasses, widthDivisor, batchNorm }: WeightsShape): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const conv = (prefix: string, name: string, out: number, inChannels: number, k: number, withBatchNorm: boolean): void => {
    shapes.set(`${prefix}.${name}.weight`, [out, inChannels, k, k]);
    shapes.set(`${prefix}.${name}.bias`, [out]);
    if (!withBatchNorm) return;
    const bn = `${prefix}.${batchNormName(name)}`;
    for (const part of ['weight', 'bias', 'running_mean', 'running_var']) shapes.set(`${bn}.${part}`, [out]);
    shapes.set(`${bn}.num_batches_tracked`, []);
  };
  let channels = 3;
  let conv4_3 = 0;
  for (const step of VGG_TABLE) {
    if (!('conv' in step)) continue;
    const out = narrowed(step.out, widthDivisor);
    conv('base', step.conv, out, channels, step.kernelSize ?? 3, batchNorm);
    channels = out;
    if (step.conv === 'conv4_3') conv4_3 = out;
  }
  shapes.set('rescale_factors', [1, conv4_3, 1, 1]);
  const mapChannels = [conv4_3, channels];
  for (const row of AUX_TABLE) {
    const mid = narrowed(row.mid, widthDivisor);
    const out = narrowed(row.out, widthDivisor);
    conv('aux_convs', `${row.name}_1`, mid, channels, 1, batchNorm);
    conv('aux_convs', `${row.name}_2`, out, mid, 3, batchNorm);
    mapChannels.push(out);
    channels = out;
  }
  FEATURE_MAPS.forEach((map, k) => {
    conv('pred_convs', `loc_${map.name}`, boxesPerPosition(map) * 4, mapChannels[k], 3, false);
    conv('pred_convs', `cl_${map.name}`, boxesPerPosition(map) * nClasses, mapChannels[k], 3, false);
  });
  return shapes;
}

/**
 * Check that a weights file holds every tensor of the model its shape says, with its shape, before
 * the model is built: the shape is read off two tensors (cl_conv11_2's bias gives the classes), so
 * a 320 kB file declaring 20,000 classes would otherwise have a model of 733 MB built before its
 * missing tensors were noticed. Once every tensor is there, the model takes no more memory than
 * the file's own tensors. Extra tensors are left to loadStateDict, which names them.
 */
export function checkWeightsBeforeBuilding(tensors: Map<string, Tensor>, file: string, shape: WeightsShape): void {
  const model = `a model of ${shape.nClasses} classes, width divisor ${shape.widthDivisor}${shape.batchNorm ? ', batch norm' : ''}`;
  const missing: string[] = [];
  const show = (s: readonly number[]): string => `(${s.join(', ')})`;
  for (const [name, expected] of expectedWeightShapes(shape)) {
    const t = tensors.get(name);
    if (t === undefined) {
      missing.push(name);
    } else if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
      throw new Error(`${file}: tensor '${name}' has shape ${show(t.shape)}; ${model} (as its other tensors say) needs ${show(expected)}`);
    }
  }
  if (missing.length > 0) {
    const listed = missing.slice(0, 5).map((n) => `'${n}'`).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
    throw new Error(`${file}: not the weights of ${model} (as its tensors say): missing ${listed}`);
  }
}

/**
 * A model shaped to fit a weights file (SSD300.shapeOfWeights reads the number of classes, the
 * width and batch norm off the tensors), in evaluation mode; every tensor is checked before the
 * model is built. Class names come from the metadata, else VOC's for 21 classes, else 'class 1',
 * 'class 2', ...
 */
export function loadModel(file: string, kernels: Kernels): { model: SSD300; classes: string[] } {
  const { tensors, metadata } = readSafetensors(file);
  return modelFromTensors(tensors, metadata, file, kernels);
}

/** loadModel from a file's tensors and metadata already read (a checkpoint to resume). */
export function modelFromTensors(tensors: Map<string, Tensor>, metadata: Record<string, string>, file: string, kernels: Kernels): { model: SSD300; classes: string[] } {
  const weights = modelTensors(tensors);
  const shape = SSD300.shapeOfWeights(weights, file);
  checkWeightsBeforeBuilding(weights, file, shape);
  // the class names before the model too: a list of another length is refused without building it
  const classes = classNamesOfWeights(metadata, shape.nClasses, file);
  const model = SSD300.fromWeights(weights, file, { kernels });
  model.eval();
  return { model, classes };
}
